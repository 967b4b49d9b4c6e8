"""Gelato API simulator: standard library, werkzeug, requests and jsonschema only (no Odoo).

In-process: ``GelatoSimulator(api_keys=('sim-key',)).start()``; standalone: ``python -m simulator``.
"""
from .data import SEED_TEMPLATE_IDS
from .server import FAULT_KINDS, PREVIEW_KINDS, ApiError, GelatoSimulator
from .webhooks import EVENT_TYPES, send_webhook

__all__ = ['EVENT_TYPES', 'FAULT_KINDS', 'PREVIEW_KINDS', 'SEED_TEMPLATE_IDS', 'ApiError',
           'GelatoSimulator', 'send_webhook']
