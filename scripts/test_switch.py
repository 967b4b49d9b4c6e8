"""The switch from Odoo's own Gelato modules, tested on the real thing (run by `dev.sh test`).

A database gets Odoo's `website_sale_gelato` and `sale_gelato_stock` (from the Odoo source the
set-up uses) and is filled as a merchant would with them: the company's API key and webhook
secret, a product synchronized by Odoo's module from a Gelato template, its print image, the
Standard Delivery with the merchant's price settings, and an order Odoo's module sent to Gelato.
Odoo's module talks to the Gelato simulator as to Gelato: its hard-coded
`https://order.gelatoapis.com` goes through an HTTPS proxy (`HTTPS_PROXY`, a certificate this
script signs, `REQUESTS_CA_BUNDLE`) that hands each request to the simulator.

Then `odoo-bin gelato_switch` is refused on a database it cannot switch (two companies sharing
a webhook secret), switches the database once that is fixed, and the script checks every point
of the switch, delivers the order in flight through Gelato's webhook, and runs the switch again.
Ends with one line: `switch: N passed, N failed`.

Usage: python scripts/test_switch.py ODOO_BIN ADDONS_PATH DATA_DIR TEMPLATE_DB
"""
import base64
import contextlib
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from simulator import data as sim_data  # noqa: E402
from simulator.server import GelatoSimulator  # noqa: E402

API_KEY, SECRET = 'switch-key', 'switch-secret'
TEMPLATE_ID = sim_data.SEED_TEMPLATE_IDS['poster']
RESULTS = []


def check(name, condition, detail=''):
    RESULTS.append(bool(condition))
    why = f' ({detail})' if detail and not condition else ''
    print(f"{'ok' if condition else 'FAILED'}: {name}{why}", flush=True)
    return condition


# === An HTTPS proxy for Odoo's module: CONNECT *.gelatoapis.com -> the simulator === #

def make_certificate(folder):
    """A certificate authority and a certificate for *.gelatoapis.com it signs."""
    # Imported here: Odoo's requirements bring `cryptography`, the simulator does not need it.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'gelato_connector test CA')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'gelatoapis.com')]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName('*.gelatoapis.com'), x509.DNSName('gelatoapis.com')]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(folder, f'{name}.pem') for name in ('ca', 'cert', 'key')}
    with open(paths['ca'], 'wb') as file:
        file.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths['cert'], 'wb') as file:
        file.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths['key'], 'wb') as file:
        file.write(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return paths


def _read_head(stream):
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = stream.recv(1)
        if not chunk:
            break
        head += chunk
    return head


class GelatoProxy:
    """`CONNECT order.gelatoapis.com:443`, TLS with the test certificate, then each request is
    sent to the simulator as `/order/v4/...` (the simulator serves each service under its name)."""

    def __init__(self, simulator_url, certificate):
        self.simulator_url = simulator_url.rstrip('/')
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate['cert'], certificate['key'])
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hosts = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            client, _address = self.sock.accept()
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client):
        try:
            head = _read_head(client).decode('latin-1')
            method, target, _version = head.split('\r\n', 1)[0].split(' ', 2)
            host = target.rsplit(':', 1)[0]
            if method != 'CONNECT' or not host.endswith('.gelatoapis.com'):
                client.sendall(b'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
                return
            self.hosts.append(host)
            client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
            tls = self.context.wrap_socket(client, server_side=True)
            request = _read_head(tls).decode('latin-1')
            lines = request.split('\r\n')
            method, path, _version = lines[0].split(' ', 2)
            headers = dict(line.split(': ', 1) for line in lines[1:] if ': ' in line)
            length = int(headers.get('Content-Length') or 0)
            body = b''
            while len(body) < length:
                body += tls.recv(length - len(body))
            service = host.split('.', 1)[0]
            forwarded = urllib.request.Request(
                f'{self.simulator_url}/{service}{path}', data=body or None, method=method,
                headers={k: v for k, v in headers.items()
                         if k.lower() in ('x-api-key', 'content-type', 'accept')})
            try:
                with urllib.request.urlopen(forwarded, timeout=10) as answer:
                    status, payload, kind = answer.status, answer.read(), answer.headers.get(
                        'Content-Type', 'application/json')
            except urllib.error.HTTPError as error:
                status, payload, kind = error.code, error.read(), error.headers.get(
                    'Content-Type', 'application/json')
            tls.sendall(f'HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: '
                        f'{len(payload)}\r\nConnection: close\r\n\r\n'.encode() + payload)
            tls.close()
        except Exception as error:  # noqa: BLE001 - a test helper: say it and go on
            print(f"proxy: {type(error).__name__}: {error}", flush=True)
        finally:
            client.close()


# === Odoo === #

class Odoo:
    def __init__(self, odoo_bin, addons_path, data_dir, db, env):
        self.base = [sys.executable, odoo_bin, f'--addons-path={addons_path}']
        self.data_dir, self.db, self.env = data_dir, db, env

    def run(self, *args, stdin=None, timeout=900):
        return subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=timeout, check=False)

    def shell(self, script):
        """Run a script in `odoo-bin shell`; return what it printed after RESULT as JSON."""
        done = self.run('shell', '-d', self.db, f'--data-dir={self.data_dir}', '--no-http',
                        '--log-level=warn', stdin=script)
        for line in done.stdout.splitlines():
            if line.startswith('RESULT '):
                return json.loads(line[7:])
        print(done.stdout[-3000:], done.stderr[-5000:], sep='\n', flush=True)
        raise RuntimeError('the shell script printed no RESULT')

    def switch(self, *args):
        return self.run('gelato_switch', '-d', self.db, f'--data-dir={self.data_dir}', *args)


def psql(db, query):
    return subprocess.run(['psql', '-d', db, '-tAc', query], capture_output=True, text=True,
                          check=True).stdout.strip()


FILL = '''
import base64, json
company = env.company
company.write({'gelato_api_key': %(key)r, 'gelato_webhook_secret': %(secret)r,
               'country_id': env.ref('base.de').id})
product = env['product.template'].create({'name': 'Classic Poster', 'type': 'consu',
                                          'gelato_template_ref': %(template)r})
answer = product.action_sync_gelato_template_info()
assert answer['params']['type'] == 'success', answer
product.gelato_image_ids.write({'datas': %(png)r})
product.is_published = True
carrier = env.ref('sale_gelato.standard_delivery')
carrier.write({'margin': 12, 'fixed_margin': 1.5, 'free_over': True, 'amount': 150})
partner = env['res.partner'].create({
    'name': 'Jan Jansen', 'street': 'Keizersgracht 1', 'city': 'Amsterdam', 'zip': '1015 CJ',
    'country_id': env.ref('base.nl').id, 'email': 'jan@example.com', 'phone': '+31 20 123 4567',
    # Odoo's module sends `state: false` without one, which Gelato's table refuses.
    'state_id': env['res.country.state'].search([('country_id', '=', env.ref('base.nl').id)],
                                                limit=1).id})
variant = product.product_variant_ids.filtered(lambda v: v.gelato_product_uid)[:1]
sale = env['sale.order'].create({'partner_id': partner.id,
                                 'order_line': [(0, 0, {'product_id': variant.id,
                                                        'product_uom_qty': 2})]})
sale.set_delivery_line(carrier, 7.5)
sale.action_confirm()
# A second order, which Gelato delivers before the switch.
done = sale.copy()
done.set_delivery_line(carrier, 7.5)
done.action_confirm()
env.cr.commit()  # Odoo's module confirms its draft at Gelato after the commit.
print('RESULT ' + json.dumps({
    'template': product.id, 'variants': product.product_variant_ids.ids,
    'uids': sorted(product.product_variant_ids.mapped('gelato_product_uid')),
    'images': product.gelato_image_ids.ids,
    'checksums': product.gelato_image_ids.mapped('checksum'),
    'areas': product.gelato_image_ids.mapped('name'),
    'carrier': carrier.id, 'express': env.ref('sale_gelato.express_delivery').id,
    'carrier_product': carrier.product_id.id,
    'sale': sale.id, 'sale_name': sale.name, 'sale_state': sale.state,
    'delivered_sale': done.id, 'delivered_name': done.name,
    'pickings': len(sale.picking_ids), 'partner': partner.id, 'company': company.id,
}))
'''

AFTER = '''
import json
states = dict(env['ir.module.module'].search([('name', 'in', (
    'gelato_connector', 'sale_gelato', 'sale_gelato_stock', 'website_sale_gelato'))]).mapped(
    lambda m: (m.name, m.state)))
product = env['product.template'].browse(%(template)d)
company = env['res.company'].browse(%(company)d)
carrier = env['delivery.carrier'].browse(%(carrier)d).exists()
sale = env['sale.order'].browse(%(sale)d)
orders = env['gelato.order'].search([('sale_order_id', '=', sale.id)])
delivered = env['gelato.order'].search_count([('sale_order_id', '=', %(delivered_sale)d)])
env['ir.config_parameter'].set_param('gelato_connector.api_url_template', %(api_url)r)
env.cr.commit()
print('RESULT ' + json.dumps({
    'states': states,
    'template_ref': product.gelato_template_ref,
    'variants': product.product_variant_ids.ids,
    'uids': sorted(product.product_variant_ids.mapped('gelato_product_uid')),
    'images': product.gelato_image_ids.ids,
    'image_flags': product.gelato_image_ids.mapped('is_gelato'),
    'checksums': product.gelato_image_ids.mapped('checksum'),
    'carrier': [carrier.id, carrier.delivery_type, carrier.gelato_shipping_service_type,
                carrier.margin, carrier.fixed_margin, carrier.free_over, carrier.amount,
                carrier.product_id.id, carrier.name],
    'our_carriers': [env.ref('gelato_connector.delivery_carrier_gelato_standard').id,
                     env.ref('gelato_connector.delivery_carrier_gelato_express').id],
    'gelato_carriers': env['delivery.carrier'].with_context(active_test=False).search_count(
        [('delivery_type', '=', 'gelato')]),
    'key': company.gelato_api_key, 'secret': company.gelato_webhook_secret,
    'enabled': company.gelato_enabled,
    'orders': [[o.reference, o.origin, o.state, o.gelato_id or None, o.status or None]
               for o in orders],
    'pickings': [[p.state, p.picking_type_code] for p in sale.picking_ids],
    'delivered_orders': delivered,
}))
'''

DELIVERED = '''
import json
sale = env['sale.order'].browse(%(sale)d)
order = env['gelato.order'].search([('sale_order_id', '=', sale.id)])
mails = env['mail.message'].search([('model', '=', 'sale.order'), ('res_id', '=', sale.id),
                                    ('message_type', '!=', 'notification'),
                                    ('partner_ids', 'in', sale.partner_id.ids)])
print('RESULT ' + json.dumps({
    'orders': [[o.gelato_id or None, o.status or None, o.origin] for o in order],
    'pickings': [[p.state, p.carrier_tracking_ref or None] for p in sale.picking_ids],
    'mails': [m.subject or '' for m in mails],
    'events': env['gelato.event'].search_count([('sale_order_id', '=', sale.id)]),
}))
'''


def wait_http(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(1)
    return False


def fingerprint(db):
    """What a run that changes nothing leaves as it was."""
    orders = psql(db, "SELECT count(*) || '/' || max(write_date) FROM gelato_order") \
        if psql(db, "SELECT to_regclass('gelato_order') IS NOT NULL") == 't' else '-'
    return orders + '/' + psql(db, """
        SELECT (SELECT count(*) FROM ir_model_data) || '/' ||
               (SELECT count(*) || '/' || max(write_date) FROM stock_picking) || '/' ||
               (SELECT max(write_date) FROM product_template) || '/' ||
               (SELECT max(write_date) FROM sale_order) || '/' ||
               (SELECT string_agg(name || '=' || state, ',' ORDER BY name) FROM ir_module_module
                 WHERE name IN ('gelato_connector', 'sale_gelato', 'sale_gelato_stock',
                                'website_sale_gelato'))
    """)


def main(odoo_bin, addons_path, data_dir, template_db):
    db = f'gelato_switch_{os.getpid()}'
    folder = tempfile.mkdtemp(prefix='gelato-switch-')
    simulator = GelatoSimulator(api_keys=(API_KEY,))
    simulator.start()
    proxy = GelatoProxy(simulator.url, make_certificate(folder))
    env = dict(os.environ, HTTPS_PROXY=f'http://127.0.0.1:{proxy.port}',
               https_proxy=f'http://127.0.0.1:{proxy.port}',
               NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost',
               REQUESTS_CA_BUNDLE=os.path.join(folder, 'ca.pem'))
    odoo = Odoo(odoo_bin, addons_path, data_dir, db, env)
    subprocess.run(['dropdb', '--if-exists', db], check=False)
    subprocess.run(['createdb', '-T', template_db, db], check=True)
    filestore = os.path.join(data_dir, 'filestore')
    if os.path.isdir(os.path.join(filestore, template_db)):
        subprocess.run(['cp', '-a', os.path.join(filestore, template_db),
                        os.path.join(filestore, db)], check=True)
    try:
        done = odoo.run('-d', db, f'--data-dir={data_dir}', '-i',
                        'website_sale_gelato,sale_gelato_stock', '--stop-after-init',
                        '--no-http', '--log-level=warn')
        if not check("Odoo's website_sale_gelato and sale_gelato_stock install",
                     done.returncode == 0, done.stderr[-2000:]):
            return
        png = base64.b64encode(sim_data.png(3600, 4800, (200, 120, 40))).decode()
        before = odoo.shell(FILL % {'key': API_KEY, 'secret': SECRET, 'template': TEMPLATE_ID,
                                    'png': png})
        remote = [o for o in simulator.orders.values()
                  if o['orderReferenceId'] == str(before['sale'])]
        check("Odoo's module went to Gelato through https://*.gelatoapis.com",
              {'ecommerce.gelatoapis.com', 'order.gelatoapis.com'} <= set(proxy.hosts),
              proxy.hosts)
        check("Odoo's module synchronized the product (3 variants, 1 print image)",
              len(before['uids']) == 3 and len(before['images']) == 1, before)
        check("Odoo's module sent the order and confirmed it at Gelato (simulator: one order "
              "of orderType order under the sale order's id)",
              len(remote) == 1 and remote[0]['orderType'] == 'order', remote)
        check("Odoo's sale_gelato_stock made no delivery picking for it", before['pickings'] == 0)
        delivered_remote = [o for o in simulator.orders.values()
                            if o['orderReferenceId'] == str(before['delivered_sale'])]
        with odoo_server(odoo, folder) as port:
            for status in ('shipped', 'delivered'):
                codes = simulator.advance_order(delivered_remote[0]['id'], status,
                                                f'http://127.0.0.1:{port}/gelato/webhook', SECRET)
        check("Odoo's module received Gelato's delivered event for the second order",
              codes and codes[-1] == 200, codes)

        # A database it cannot switch: refused before anything changes.
        twin = odoo.shell("import json\ntwin = env['res.company'].create({'name': 'Twin Company', "
                          f"'gelato_webhook_secret': {SECRET!r}}})\nenv.cr.commit()\n"
                          "print('RESULT ' + json.dumps(twin.id))")
        print_before = fingerprint(db)
        refused = odoo.switch()
        check("gelato_switch refuses two companies sharing a webhook secret, saying why",
              refused.returncode == 1 and 'share one Gelato webhook secret' in refused.stdout
              and 'nothing changed' in refused.stdout, refused.stdout + refused.stderr[-2000:])
        check("the refused switch changed nothing", fingerprint(db) == print_before)
        psql(db, f"UPDATE res_company SET gelato_webhook_secret = NULL WHERE id = {twin}")

        switched = odoo.switch()
        print(switched.stdout, flush=True)
        check("gelato_switch switches the database", switched.returncode == 0
              and 'gelato_switch: switched.' in switched.stdout,
              switched.stdout + switched.stderr[-4000:])
        check("the order Gelato delivered is not adopted, and the report says why",
              f"Already delivered (Odoo's module told the customer), not followed: "
              f"{before['delivered_name']}." in switched.stdout, switched.stdout)
        check("its report says what it kept and adopted",
              'kept: 1 of 1 products with a Gelato template reference' in switched.stdout
              and 'kept: 3 of 3 variants with a Gelato product UID' in switched.stdout
              and 'kept: 1 of 1 print images with their file' in switched.stdout
              and 'orders in flight adopted: 1' in switched.stdout, switched.stdout)

        after = odoo.shell(AFTER % dict(before, api_url=simulator.api_url_template))
        check("gelato_connector is installed, Odoo's three modules are not",
              after['states'] == {'gelato_connector': 'installed', 'sale_gelato': 'uninstalled',
                                  'sale_gelato_stock': 'uninstalled',
                                  'website_sale_gelato': 'uninstalled'}, after['states'])
        check("the product keeps its template reference", after['template_ref'] == TEMPLATE_ID)
        check("the variants keep their product UIDs (same records)",
              after['variants'] == before['variants'] and after['uids'] == before['uids'])
        check("the print image is the same product.document, still a print image, same file",
              after['images'] == before['images'] and all(after['image_flags'])
              and after['checksums'] == before['checksums'], after)
        check("the API key and webhook secret are kept; Gelato is enabled for the company",
              after['key'] == API_KEY and after['secret'] == SECRET and after['enabled'])
        check("the Standard Delivery past orders use is this addon's, with its prices",
              after['carrier'][:8] == [before['carrier'], 'gelato', 'normal', 12.0, 1.5, True,
                                       150.0, before['carrier_product']]
              and after['our_carriers'] == [before['carrier'], before['express']]
              and after['gelato_carriers'] == 2, after)
        check("the order in flight is a Gelato order adopted by its old reference",
              after['orders'] == [[str(before['sale']), 'switched', 'sent', None, None]],
              after['orders'])
        check("the delivered order has no Gelato order", after['delivered_orders'] == 0)
        check("it now has its delivery picking", after['pickings'] == [['assigned', 'outgoing']]
              or (len(after['pickings']) == 1 and after['pickings'][0][1] == 'outgoing'),
              after['pickings'])

        # The order's next webhooks, from Gelato (the simulator), to this addon.
        with odoo_server(odoo, folder) as port:
            for status in ('shipped', 'delivered'):
                simulator.advance_order(remote[0]['id'], status,
                                        f'http://127.0.0.1:{port}/gelato/webhook', SECRET)
        delivered = odoo.shell(DELIVERED % before)
        check("the webhook found the order by its reference and took Gelato's id",
              delivered['orders'] == [[remote[0]['id'], 'delivered', 'switched']],
              delivered)
        check("its picking is done, with the tracking code",
              len(delivered['pickings']) == 1 and delivered['pickings'][0][0] == 'done'
              and delivered['pickings'][0][1], delivered['pickings'])
        check("the customer was mailed (shipped, delivered)", len(delivered['mails']) >= 2,
              delivered['mails'])

        print_before = fingerprint(db)
        again = odoo.switch()
        check("a second run changes nothing and says so",
              again.returncode == 0 and 'already switched, nothing to do' in again.stdout
              and fingerprint(db) == print_before, again.stdout + again.stderr[-2000:])
    finally:
        simulator.stop()
        subprocess.run(['dropdb', '--if-exists', db], check=False)
        subprocess.run(['rm', '-rf', os.path.join(filestore, db)], check=False)
        passed = sum(RESULTS)
        print(f"switch: {passed} passed, {len(RESULTS) - passed} failed", flush=True)


@contextlib.contextmanager
def odoo_server(odoo, folder):
    """Serve the database over HTTP (no cron) while the block runs; yield the port."""
    port = free_port()
    with open(os.path.join(folder, 'server.log'), 'a') as log:
        server = subprocess.Popen(
            [*odoo.base, '-d', odoo.db, f'--data-dir={odoo.data_dir}', f'--http-port={port}',
             '--http-interface=127.0.0.1', f'--db-filter=^{odoo.db}$', '--log-level=warn',
             '--max-cron-threads=0'], env=odoo.env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        if not wait_http(f'http://127.0.0.1:{port}/web/health'):
            raise RuntimeError('Odoo did not start')
        yield port
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


if __name__ == '__main__':
    main(*sys.argv[1:5])
    sys.exit(0 if RESULTS and all(RESULTS) else 1)
