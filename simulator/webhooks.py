"""Gelato webhook events: payload builders for the 11 event types and the delivery loop."""
import hashlib
import time
import uuid
from datetime import datetime, timezone

import requests

from . import data

EVENT_PREFIXES = {
    'order_status_updated': 'os',
    'order_item_status_updated': 'is',
    'order_item_tracking_code_updated': 'tc',
    'order_delivery_estimate_updated': 'os',
    'catalog_product_stock_availability_updated': 'sra',
    'store_product_created': 'spc',
    'store_product_updated': 'spu',
    'store_product_deleted': 'spd',
    'store_product_template_created': 'sptc',
    'store_product_template_updated': 'sptu',
    'store_product_template_deleted': 'sptd',
}
EVENT_TYPES = tuple(EVENT_PREFIXES)


def now_iso():
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def fulfillment(order):
    """Deterministic tracking/fulfillment details of an order (one package)."""
    code = 'SIM' + hashlib.sha1(order['id'].encode()).hexdigest()[:10].upper()
    shipment = order.get('shipment') or {}
    country = shipment.get('fulfillmentCountry') or 'DE'
    return {
        'trackingCode': code,
        'trackingUrl': f'https://tracking.example.com/track?code={code}',
        'shipmentMethodName': shipment.get('shipmentMethodName'),
        'shipmentMethodUid': shipment.get('shipmentMethodUid'),
        'fulfillmentCountry': country,
        'fulfillmentStateProvince': data.PROVINCES.get(country, ''),
        'fulfillmentFacilityId': str(uuid.uuid5(data.NAMESPACE, f'facility/{country}')),
    }


def stock_availability(product_uids, overrides):
    """Availability rows per stock region of a stock webhook; `overrides[(uid, region)]` beats
    'in-stock' (the Stock API's answer is `ApiHandlers._stock`)."""
    return [{'productUid': uid,
             'availability': [{'stockRegionUid': region,
                               'status': overrides.get((uid, region), 'in-stock')}
                              for region in data.STOCK_REGIONS]}
            for uid in product_uids]


def build_event(event_type, order=None, template=None, stock_overrides=None, **overrides):
    """Payload of `event_type` for `order` (order events) or `template` (store events).

    A fresh unique `id` is generated; keyword overrides are merged last."""
    if event_type not in EVENT_PREFIXES:
        raise ValueError(f'Unknown event type {event_type!r}')
    event = {'id': f'{EVENT_PREFIXES[event_type]}_{uuid.uuid4().hex}', 'event': event_type}
    if event_type.startswith('order_'):
        if order is None:
            raise ValueError(f'{event_type} needs an order')
        event.update(orderId=order['id'], storeId=order.get('storeId'),
                     orderReferenceId=order['orderReferenceId'])
        item = order['items'][0]
        track = fulfillment(order)
        production = {'productionCountry': track['fulfillmentCountry'],
                      'productionStateProvince': track['fulfillmentStateProvince'],
                      'productionFacilityId': track['fulfillmentFacilityId']}
        if event_type == 'order_status_updated':
            event.update(fulfillmentStatus=order['fulfillmentStatus'], items=[
                {'itemReferenceId': it['itemReferenceId'],
                 'fulfillmentStatus': it['fulfillmentStatus'],
                 'fulfillments': [dict(f) for f in it.get('_fulfillments', [])]}
                for it in order['items']])
        elif event_type == 'order_item_status_updated':
            event.update(itemReferenceId=item['itemReferenceId'],
                         status=item['fulfillmentStatus'], comment='', created=now_iso(),
                         **{k: v for k, v in track.items() if k.startswith('fulfillment')})
        elif event_type == 'order_item_tracking_code_updated':
            # As the docs' example sends it: production* where the table says fulfillment*.
            track = dict((item.get('_fulfillments') or [track])[0])
            event.update(itemReferenceId=item['itemReferenceId'], created=now_iso(),
                         **{k: v for k, v in track.items() if not k.startswith('fulfillment')},
                         **production)
        else:
            shipment = order.get('shipment') or {}
            event.update(minDeliveryDate=shipment.get('minDeliveryDate'),
                         maxDeliveryDate=shipment.get('maxDeliveryDate'), created=now_iso())
    elif event_type == 'catalog_product_stock_availability_updated':
        if order is not None:
            uids = list(dict.fromkeys(it['productUid'] for it in order['items']))
        else:
            uids = [v['productUid'] for v in (template or {}).get('variants', [])]
        # The docs' table says productsAvailability, their example productAvailability: the
        # example is what Gelato sends; one list, never both (https://dashboard.gelato.com/docs/
        # webhooks/). Only the three statuses the event documents, no replenishmentDate.
        event.update(productAvailability=stock_availability(uids, stock_overrides or {}))
    else:
        if template is None:
            raise ValueError(f'{event_type} needs a template')
        event.update(_store_event(event_type, template))
    event.update(overrides)
    return event


def _store_event(event_type, template):
    tid = template['id']
    if event_type == 'store_product_template_deleted':
        return {'storeProductTemplateId': tid}
    if event_type.startswith('store_product_template_'):
        return {'storeProductTemplateId': tid, 'title': template.get('title'),
                'description': template.get('description'),
                'previewUrl': template.get('previewUrl'), 'createdAt': template.get('createdAt'),
                'updatedAt': template.get('updatedAt'),
                'variants': [dict(v) for v in template.get('variants', [])]}
    product_id = str(uuid.uuid5(data.NAMESPACE, f'store-product/{tid}'))
    if event_type == 'store_product_deleted':
        return {'storeProductId': product_id}
    options = {}
    for variant in template.get('variants', []):
        for opt in variant.get('variantOptions', []):
            options.setdefault(opt['name'], []).append(opt['value'])
    return {
        'storeProductId': product_id, 'storeId': str(uuid.uuid5(data.NAMESPACE, 'store')),
        'externalId': str(data.hash_int(tid)), 'title': template.get('title'),
        'description': template.get('description'), 'previewUrl': template.get('previewUrl'),
        'externalPreviewUrl': template.get('previewUrl'),
        'externalThumbnailUrl': template.get('previewUrl'), 'publishingErrorCode': None,
        'status': 'active', 'publishedAt': template.get('updatedAt'),
        'createdAt': template.get('createdAt'), 'updatedAt': template.get('updatedAt'),
        'variants': [{'id': v['id'], 'title': v.get('title'),
                      'externalId': str(data.hash_int(v['id'])), 'connectionStatus': 'connected'}
                     for v in template.get('variants', [])],
        'productVariantOptions': [{'name': name, 'values': list(dict.fromkeys(values))}
                                  for name, values in options.items()],
    }


def send_webhook(url, secret, payload, tries=3, retry_delay=5.0, sleep=time.sleep, timeout=10):
    """POST `payload` as JSON with header `signature: secret`, Gelato's way: up to `tries`
    attempts, `retry_delay` seconds apart, until a 2xx. Returns each attempt's status code
    (None for a connection error or timeout)."""
    headers = {'signature': secret} if secret is not None else {}
    codes = []
    for attempt in range(max(tries, 1)):
        if attempt:
            sleep(retry_delay)
        try:
            response = requests.post(url, json=payload, headers=headers, timeout=timeout)
        except requests.RequestException:
            codes.append(None)
            continue
        codes.append(response.status_code)
        if 200 <= response.status_code < 300:
            break
    return codes
