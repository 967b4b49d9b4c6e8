#!/usr/bin/env python3
"""Against a running `scripts/dev.sh run`: a salesperson's open sale form follows the outbox.

What a test cursor cannot show (Odoo's bus notifies browsers only after a real commit), shown
on the live server, as the salesperson who presses *Confirm*:

1. a salesperson (created once, login `gelato_walk_seller`) makes a quotation of a Gelato
   product, adds Gelato's Standard Delivery (*Add shipping*, *Get rate*) and confirms it;
2. the simulator answers the outbox's first call slowly (15 s), so the order is still waiting
   when the form opens in headless Chromium, logged in as that salesperson;
3. the form is then watched, never reloaded: the "Waiting to be sent to Gelato" banner must go
   by itself once the order is at Gelato.

Usage: `.venv/bin/python scripts/check_form_follows.py [--odoo URL] [--simulator URL]`
(defaults: http://127.0.0.1:8069, database gelato_dev, and the simulator on :8070). Prints what
it saw and `form follows the outbox: YES` or `NO`; exits 0 or 1. A screenshot of the form after
the change is written to `--shot` (default /tmp/gelato_form_follows.png).
"""
import argparse
import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time

import requests
import websocket

BANNER = 'Waiting to be sent to Gelato'
SELLER = 'gelato_walk_seller'


class Rpc:
    """JSON-RPC on Odoo's `/web/dataset/call_kw`, as a logged-in user."""

    def __init__(self, url, db, login, password):
        self.url, self.session = url, requests.Session()
        answer = self._post('/web/session/authenticate',
                            {'db': db, 'login': login, 'password': password})
        if not answer.get('uid'):
            raise SystemExit(f"cannot log in as {login}")

    def _post(self, path, params):
        reply = self.session.post(self.url + path, json={'jsonrpc': '2.0', 'params': params},
                                  timeout=60).json()
        if 'error' in reply:
            raise RuntimeError(reply['error']['data'].get('message') or reply['error'])
        return reply.get('result')

    def call(self, model, method, *args, **kwargs):
        return self._post('/web/dataset/call_kw', {
            'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs})


class Browser:
    """Headless Chromium driven over the DevTools protocol, with an Odoo session cookie."""

    def __init__(self, cookie, host):
        self.profile = tempfile.mkdtemp(prefix='gelato-check-')
        self.proc = subprocess.Popen(
            [shutil.which('chromium') or shutil.which('chromium-browser') or 'google-chrome',
             '--headless=new', '--no-sandbox', '--disable-gpu', '--remote-debugging-port=9334',
             f'--user-data-dir={self.profile}', '--window-size=1400,1000', 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _attempt in range(100):
            try:
                tabs = requests.get('http://127.0.0.1:9334/json', timeout=2).json()
                break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise SystemExit("Chromium did not start")
        page = next(t for t in tabs if t['type'] == 'page')
        self.ws = websocket.create_connection(page['webSocketDebuggerUrl'], timeout=60)
        self.ids = itertools.count(1)
        self.send('Network.enable')
        self.send('Network.setCookie', name='session_id', value=cookie, domain=host, path='/')

    def send(self, method, **params):
        ident = next(self.ids)
        self.ws.send(json.dumps({'id': ident, 'method': method, 'params': params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get('id') == ident:
                return message.get('result', {})

    def evaluate(self, expression):
        result = self.send('Runtime.evaluate', expression=expression, returnByValue=True)
        return result.get('result', {}).get('value')

    def wait_for(self, expression, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.25)
        return False

    def screenshot(self, path):
        with open(path, 'wb') as file:
            file.write(base64.b64decode(self.send('Page.captureScreenshot', format='png')['data']))

    def close(self):
        self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--odoo', default='http://127.0.0.1:8069')
    parser.add_argument('--db', default='gelato_dev')
    parser.add_argument('--simulator', default='http://127.0.0.1:8070')
    parser.add_argument('--shot', default='/tmp/gelato_form_follows.png')
    args = parser.parse_args()

    admin = Rpc(args.odoo, args.db, 'admin', 'admin')
    if not admin.call('res.users', 'search', [('login', '=', SELLER)]):
        group = admin.call('ir.model.data', 'check_object_reference', 'sales_team',
                           'group_sale_salesman')[1]
        admin.call('res.users', 'create', {
            'name': "Walk Seller", 'login': SELLER, 'password': SELLER,
            'email': 'walk.seller@example.com', 'group_ids': [(6, 0, [group])]})
    seller = Rpc(args.odoo, args.db, SELLER, SELLER)
    product = seller.call('product.product', 'search_read',
                          [('gelato_product_uid', '!=', False), ('sale_ok', '=', True)],
                          fields=['display_name'], limit=1)[0]
    # The customer exists (a salesperson may not create contacts in Odoo 19).
    customer = admin.call('res.partner', 'create', {
        'name': "Walk Customer", 'street': 'Unter den Linden 5', 'city': 'Berlin',
        'zip': '10117', 'country_id': admin.call('res.country', 'search',
                                                 [('code', '=', 'DE')])[0],
        'email': 'walk.customer@example.com', 'phone': '+49 30 1234567'})
    order_id = seller.call('sale.order', 'create', {
        'partner_id': customer, 'order_line': [(0, 0, {'product_id': product['id'],
                                                       'product_uom_qty': 1})]})
    action = seller.call('sale.order', 'action_open_delivery_wizard', [order_id])
    wizard = seller.call('choose.delivery.carrier', 'create', {'order_id': order_id},
                         context=action['context'])
    seller.call('choose.delivery.carrier', 'update_price', [wizard])
    seller.call('choose.delivery.carrier', 'button_confirm', [wizard])
    requests.post(f'{args.simulator}/_simulator/faults', json={
        'kind': 'slow', 'times': 1, 'delay': 15, 'path_prefix': '/order/v4/orders'}, timeout=10)
    seller.call('sale.order', 'action_confirm', [order_id])
    name = seller.call('sale.order', 'read', [order_id], ['name'])[0]['name']
    print(f"{name} ({product['display_name']}) confirmed by {SELLER}")

    host = args.odoo.split('//', 1)[1].split(':', 1)[0].split('/', 1)[0]
    browser = Browser(seller.session.cookies.get('session_id'), host)
    try:
        browser.send('Page.navigate', url=f'{args.odoo}/odoo/sales/{order_id}')
        shown = f"document.body.innerText.includes({json.dumps(BANNER)})"
        waiting = browser.wait_for(shown, 12)
        print(f"banner shown while the order waits: {'yes' if waiting else 'no'}")
        started = time.monotonic()
        gone = browser.wait_for(f"!({shown}) && !!document.querySelector('.o_form_view')", 45)
        state = seller.call('sale.order', 'read', [order_id], ['gelato_outbox_state'])[0]
        print(f"banner gone without a reload: {'yes' if gone else 'no'}"
              f" ({time.monotonic() - started:.1f} s later; outbox state now "
              f"{state['gelato_outbox_state']})")
        browser.screenshot(args.shot)
        print(f"screenshot: {args.shot}")
    finally:
        browser.close()
    ok = waiting and gone
    print(f"form follows the outbox: {'YES' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
