"""Benchmark: from confirmation to Gelato, on a live server, for the back office and the webshop.

Starts Odoo with workers (`--workers=2 --max-cron-threads=1`, HTTP port 8369, gevent port 8371)
on a prepared database, and the Gelato simulator beside it (port 8370, no automatic progress), in
this process so that the moment each order arrives at "Gelato" is stamped there. Then:

1. back office: an internal user confirms N quotations over JSON-RPC (`/web/session/authenticate`,
   then `/web/dataset/call_kw` `sale.order.action_confirm`); measured from the moment the call
   returns to the moment the order is created at the simulator (polled every 20 ms; matched by its
   `orderReferenceId`, which starts with the sale order's name); the next confirmation comes once
   the outbox's run that sent the previous order has ended (its duration is printed: an order
   confirmed during a run waits for it);
2. webshop: N purchases by public visitors (no login) through the routes the browser uses: the
   product page, `/shop/cart/add`, the guest's address form (`/shop/address/submit`), the
   delivery step as the checkout page's JavaScript does it (`/shop/checkout`, then
   `/shop/set_delivery_method` for the method shown as chosen and `/shop/get_delivery_rate` for the
   others), `/shop/payment`, the transaction (`/shop/payment/transaction/<order>`), the demo
   provider's `/payment/demo/simulate_payment`, `/payment/status` and its poll
   `/payment/status/poll`, which post-processes the payment and confirms the order; measured from
   the moment the poll returns to the order's arrival at the simulator; the simulator's
   `orders:quote` calls are counted per delivery step and per checkout;
3. calls per connection for a burst: "Fetch costs" of a 200-variant product (up to 4 calls at
   once) over JSON-RPC: the simulator's requests divided by the TCP connections it accepted (the
   simulator keeps connections alive, as Gelato's API does).

Targets: p95 <= 2 s for both paths; one quote call per delivery step. When a target is missed,
the server's log (level info, kept) tells how long the outbox's scheduled action took to start
after each commit, and what the cron worker was doing meanwhile: printed per path.

Usage (scripts/dev.sh bench runs it):
  python benchmarks/bench_latency.py -d DB --addons-path PATHS --odoo-bin ODOO_BIN
         --data-dir DIR [-n 25] [--log FILE]
The database is prepared and committed first; the server is stopped at the end.
"""
import argparse
import datetime
import html.parser
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

import requests
from bench_common import synced_product

N = 25
WARM_UP = 3
HTTP_PORT, SIM_PORT, GEVENT_PORT = 8369, 8370, 8371
API_KEY = 'bench-latency-key'
LOGIN = PASSWORD = 'bench_latency_sales'
TEMPLATE, BIG_TEMPLATE = 'bench-latency-poster', 'bench-latency-200'
TARGET_P95 = 2.0
ARRIVAL_TIMEOUT = 60.0
POLL = 0.02
OUTBOX_JOB = 'Gelato: send waiting orders'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--odoo-bin', help="Odoo's odoo-bin (default: python -m odoo)")
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('-n', type=int, default=N, help='measured orders per path')
    parser.add_argument('--log', default=None, help="the server's log file")
    args = parser.parse_args()
    log_path = args.log or os.path.join(args.data_dir, 'bench-latency-server.log')

    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(['-d', args.database, '--addons-path', args.addons_path,
                         '--data-dir', args.data_dir, '--http-interface', '127.0.0.1',
                         '--log-level', 'warn'])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo)
    from simulator import GelatoSimulator

    class StampingSimulator(GelatoSimulator):
        """The simulator, noting when each order is created (monotonic clock of this process)."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.arrivals = {}

        def _create_order(self, body, args):
            response = super()._create_order(body, args)
            if response.status_code == 200 and isinstance(body, dict):
                self.arrivals.setdefault(body.get('orderReferenceId'), time.perf_counter())
            return response

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    simulator = StampingSimulator(api_keys=(API_KEY,), port=SIM_PORT).start()
    registry = Registry(args.database)
    server = None
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            data = prepare(env, simulator, args.n + WARM_UP)
            cr.commit()
        registry.signal_changes()
        server = start_server(args, log_path)
        url = f'http://127.0.0.1:{HTTP_PORT}'
        backlog = wait_for_idle_crons(registry)
        print(f"server up (workers 2, cron workers 1, log {log_path}); " + describe_backlog(
            log_path, backlog))
        watcher = LogWatcher(log_path)
        backend = backend_confirmations(url, args.database, data, simulator, registry, watcher)
        shop = webshop_purchases(url, data, simulator, registry, args.n + WARM_UP, watcher)
        try:
            bursts = cost_bursts(url, args.database, data, simulator)
        except Exception as error:  # noqa: BLE001 - reported, the latencies are still printed
            print(f"burst failed: {error}")
            bursts = []
        overall = (len(simulator.requests), simulator.connection_count)
    finally:
        if server is not None:
            stop_server(server)
        simulator.stop()
    report(backend, shop, bursts, overall, log_path)
    return 0


# --- preparation --------------------------------------------------------------------------------

def prepare(env, simulator, count):
    """Company, products, payment provider, customer, salesperson and quotations."""
    from odoo import Command
    company = env.company
    ICP = env['ir.config_parameter']
    ICP.set_param('gelato_connector.api_url_template', f'{simulator.url}/{{service}}')
    ICP.set_param('web.base.url', f'http://127.0.0.1:{HTTP_PORT}')
    company.write({'gelato_enabled': True, 'gelato_api_key': API_KEY})
    if not company.partner_id.street:
        company.partner_id.write({
            'street': 'Skovvej 1', 'city': 'Copenhagen', 'zip': '2100',
            'country_id': env.ref('base.dk').id, 'email': 'shop@example.com',
        })
    poster = synced_product(env, simulator, TEMPLATE, [('Size', ['S', 'M', 'L'])])
    poster.write({'is_published': True})
    big = synced_product(env, simulator, BIG_TEMPLATE,
                         [('Color', [f'Color {i}' for i in range(10)]),
                          ('Size', [f'Size {i}' for i in range(20)])])
    provider = env.ref('payment.payment_provider_demo')
    provider.write({'state': 'test', 'is_published': True, 'company_id': company.id})
    customer = env['res.partner'].create({
        'name': 'Latency Customer', 'street': 'Unter den Linden 5', 'city': 'Berlin',
        'zip': '10117', 'country_id': env.ref('base.de').id, 'email': 'latency@example.com',
        'phone': '+49 30 1234567',
    })
    user = env['res.users'].with_context(no_reset_password=True).search(
        [('login', '=', LOGIN)]) or env['res.users'].with_context(no_reset_password=True).create({
            'name': 'Latency Salesperson', 'login': LOGIN, 'email': 'sales@example.com',
            'group_ids': [Command.link(env.ref('sales_team.group_sale_manager').id),
                          Command.link(env.ref('product.group_product_manager').id)],
        })
    user.password = PASSWORD
    carrier = env.ref('gelato_connector.delivery_carrier_gelato_standard')
    variant = poster.product_variant_ids[0]
    quotations = env['sale.order'].create([{
        'partner_id': customer.id, 'user_id': user.id,
        'order_line': [Command.create({'product_id': variant.id, 'product_uom_qty': 1})],
    } for _i in range(count)])
    for order in quotations:
        rate = carrier.rate_shipment(order)
        if not rate['success']:
            raise RuntimeError(rate['error_message'])
        order.set_delivery_line(carrier, rate['price'])
    env.flush_all()
    return {
        'quotations': [(o.id, o.name) for o in quotations],
        'product': (poster.id, variant.id), 'big': big.id,
        'country': env.ref('base.de').id,
    }


# --- the server ---------------------------------------------------------------------------------

def start_server(args, log_path):
    for path in (log_path, f'{log_path}.stderr'):
        if os.path.exists(path):
            os.unlink(path)
    odoo = [sys.executable, args.odoo_bin] if args.odoo_bin else [sys.executable, '-m', 'odoo']
    command = [*odoo, f'--addons-path={args.addons_path}',
               f'--data-dir={args.data_dir}', '-d', args.database,
               f'--db-filter=^{re.escape(args.database)}$', '--http-interface=127.0.0.1',
               f'--http-port={HTTP_PORT}', f'--gevent-port={GEVENT_PORT}', '--workers=2',
               '--max-cron-threads=1', '--log-level=info', f'--logfile={log_path}']
    # What does not go to the log (a process that dies before its logging is set up) goes there.
    with open(f'{log_path}.stderr', 'wb') as errors:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                  start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Odoo exited with {server.returncode}: see {log_path}")
        try:
            if requests.get(f'http://127.0.0.1:{HTTP_PORT}/web/health', timeout=2).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"Odoo did not answer on port {HTTP_PORT}: see {log_path}")


def stop_server(server):
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_for_idle_crons(registry, timeout=420):
    """Wait until no scheduled action is due (a fresh database has them all due at start).

    The cron worker sleeps up to about a minute between passes unless notified: while actions
    are due, it is notified every few seconds, as Odoo does when an action is triggered.
    """
    from odoo import sql_db
    started, notified = time.monotonic(), 0.0
    while time.monotonic() - started < timeout:
        with registry.cursor() as cr:
            cr.execute("""
                SELECT count(*) FROM ir_cron
                 WHERE active AND (nextcall <= now() AT TIME ZONE 'UTC' OR id IN (
                       SELECT cron_id FROM ir_cron_trigger
                        WHERE call_at <= now() AT TIME ZONE 'UTC'))
            """)
            if not cr.fetchone()[0]:
                return time.monotonic() - started
        if time.monotonic() - notified > 5:
            with sql_db.db_connect('postgres').cursor() as cr:
                cr.execute("SELECT pg_notify('cron_trigger', %s)", (registry.db_name,))
            notified = time.monotonic()
        time.sleep(0.5)
    return time.monotonic() - started


# --- JSON-RPC and HTML helpers ------------------------------------------------------------------

def jsonrpc(session, url, route, params=None):
    response = session.post(f'{url}{route}', json={
        'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params or {}}, timeout=120)
    response.raise_for_status()
    answer = response.json()
    if answer.get('error'):
        error = answer['error']
        raise RuntimeError(f"{route}: {error.get('data', {}).get('message') or error}")
    return answer.get('result')


class Page(html.parser.HTMLParser):
    """The forms, inputs and data attributes of a page (what the browser's scripts read)."""

    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag=None, **attrs):
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace('_', '-')) == v for k, v in attrs.items())]

    def with_attribute(self, name):
        return [a for _t, a in self.tags if name in a]


class LogWatcher:
    """Follows the server's log: waits for the outbox's scheduled action to finish a run."""

    def __init__(self, path):
        self.path, self.offset = path, 0
        self.skip()

    def _new_lines(self):
        try:
            with open(self.path, 'rb') as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return []
        complete = data.rfind(b'\n') + 1  # a line being written is read next time
        self.offset += complete
        return data[:complete].decode('utf-8', errors='replace').splitlines()

    def skip(self):
        self._new_lines()

    def wait_outbox_done(self, timeout=60.0):
        """Wait until a run of the outbox's action ends; return its duration (s), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._new_lines():
                job = JOB.search(line)
                if job and job.group(1) == OUTBOX_JOB and job.group(3) != 'starting':
                    return float(job.group(4)) if job.group(4) else None
            time.sleep(POLL)
        return None


def wait_arrival(simulator, name, started):
    """Poll the simulator's orders every POLL seconds for the sale order's reference."""
    prefix = f'{name}-'
    deadline = time.perf_counter() + ARRIVAL_TIMEOUT
    while time.perf_counter() < deadline:
        for reference, at in list(simulator.arrivals.items()):
            if reference and reference.startswith(prefix):
                return at - started
        time.sleep(POLL)
    return None


# --- 1. back office ----------------------------------------------------------------------------

def backend_confirmations(url, database, data, simulator, registry, watcher):
    """One confirmation at a time: the next one once the outbox's run that sent the previous
    order has ended (a confirmation made while it runs waits for it: see the run durations)."""
    session = requests.Session()
    jsonrpc(session, url, '/web/session/authenticate',
            {'db': database, 'login': LOGIN, 'password': PASSWORD})
    results = []
    for index, (order_id, name) in enumerate(data['quotations']):
        watcher.skip()
        jsonrpc(session, url, '/web/dataset/call_kw', {
            'model': 'sale.order', 'method': 'action_confirm', 'args': [[order_id]],
            'kwargs': {'context': {}}})
        returned, wall = time.perf_counter(), time.time()
        latency = wait_arrival(simulator, name, returned)
        run = watcher.wait_outbox_done()
        if index >= WARM_UP:
            results.append({'name': name, 'latency': latency, 'wall': wall, 'run': run})
        if latency is None:
            print(f"  {name} did not reach the simulator within {ARRIVAL_TIMEOUT:.0f} s "
                  f"(state: {outbox_state(registry, order_id)})")
    return results


def outbox_state(registry, order_id):
    with registry.cursor() as cr:
        cr.execute("SELECT state, send_attempts, last_error FROM gelato_order "
                   "WHERE sale_order_id = %s", (order_id,))
        return cr.fetchall()


# --- 2. webshop --------------------------------------------------------------------------------

def quote_calls(simulator, since):
    return sum(1 for r in simulator.requests[since:] if r['path'].endswith('orders:quote'))


def webshop_purchases(url, data, simulator, registry, count, watcher):
    results = []
    for index in range(count):
        watcher.skip()
        result = purchase(url, data, simulator, registry, index)
        result['run'] = watcher.wait_outbox_done()
        if index >= WARM_UP:
            results.append(result)
        if result['latency'] is None:
            print(f"  {result['name']} did not reach the simulator within "
                  f"{ARRIVAL_TIMEOUT:.0f} s")
    return results


def purchase(url, data, simulator, registry, index):
    """One guest's purchase, through the routes the browser calls."""
    session = requests.Session()
    template_id, variant_id = data['product']
    checkout_since = len(simulator.requests)
    assert session.get(f'{url}/shop/{template_id}', timeout=60).ok
    jsonrpc(session, url, '/shop/cart/add', {
        'product_template_id': template_id, 'product_id': variant_id, 'quantity': 1})

    # The address step: an anonymous cart is sent to the address form.
    page = session.get(f'{url}/shop/checkout', timeout=60)
    assert '/shop/address' in page.url, page.url
    form = Page(page.text)
    fields = {a['name']: a.get('value', '') for a in form.find('input')
              if a.get('name') and a.get('type') in ('hidden',)}
    fields.update({
        'name': f'Guest Buyer {index}', 'email': f'guest{index}@example.com',
        'phone': '+49 30 7654321', 'street': 'Friedrichstrasse 43', 'city': 'Berlin',
        'zip': '10117', 'country_id': str(data['country']),
    })
    fields.setdefault('use_delivery_as_billing', 'true')
    answer = session.post(f'{url}/shop/address/submit', data=fields, timeout=60)
    feedback = answer.json()
    if feedback.get('invalid_fields') or not feedback.get('redirectUrl'):
        raise RuntimeError(f"address refused: {feedback}")

    # The delivery step, as the checkout page and its script do it.
    step_since = len(simulator.requests)
    page = session.get(f'{url}/shop/checkout', timeout=60)
    assert page.url.endswith('/shop/checkout'), page.url
    radios = Page(page.text).find('input', name='o_delivery_radio')
    if not radios:
        raise RuntimeError("the checkout page offers no delivery method")
    checked = [r for r in radios if 'checked' in r] or radios[:1]
    jsonrpc(session, url, '/shop/set_delivery_method', {'dm_id': checked[0]['data-dm-id']})
    others = [r for r in radios if r is not checked[0]]
    rates = [None] * len(others)

    def rate(i, radio):
        rates[i] = jsonrpc(session, url, '/shop/get_delivery_rate', {'dm_id': radio['data-dm-id']})

    threads = [threading.Thread(target=rate, args=(i, r)) for i, r in enumerate(others)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    step_quotes = quote_calls(simulator, step_since)

    # The payment step.
    page = session.get(f'{url}/shop/payment', timeout=60)
    assert page.url.endswith('/shop/payment'), page.url
    doc = Page(page.text)
    form = next((a for a in doc.with_attribute('data-transaction-route')), None)
    option = next((a for a in doc.find('input', name='o_payment_radio')
                   if a.get('data-provider-code') == 'demo'), None)
    if not form or not option:
        raise RuntimeError("the payment page offers no demo payment (is the cart payable?)")
    route = form['data-transaction-route']
    order_id = int(route.rstrip('/').rsplit('/', 1)[-1])
    processing = jsonrpc(session, url, route, {
        'provider_id': int(option['data-provider-id']),
        'payment_method_id': int(option['data-payment-option-id']),
        'token_id': None,
        'amount': float(form['data-amount']) if form.get('data-amount') else None,
        'flow': 'direct', 'tokenization_requested': False,
        'landing_route': form.get('data-landing-route'), 'is_validation': False,
        'access_token': form.get('data-access-token'),
    })
    jsonrpc(session, url, '/payment/demo/simulate_payment', {
        'reference': processing['reference'], 'payment_details': '4242',
        'simulated_state': 'done'})
    assert session.get(f'{url}/payment/status', timeout=60).ok
    status = jsonrpc(session, url, '/payment/status/poll', {})
    returned, wall = time.perf_counter(), time.time()
    with registry.cursor() as cr:
        cr.execute("SELECT name, state FROM sale_order WHERE id = %s", (order_id,))
        name, state = cr.fetchone()
    latency = wait_arrival(simulator, name, returned)
    return {'name': name, 'latency': latency, 'wall': wall, 'tx_state': status.get('state'),
            'order_state': state, 'step_quotes': step_quotes,
            'checkout_quotes': quote_calls(simulator, checkout_since),
            'methods': len(radios)}


# --- 3. calls per connection -------------------------------------------------------------------

def cost_bursts(url, database, data, simulator):
    """Fetch costs of the 200-variant product; the simulator's requests per TCP connection."""
    session = requests.Session()
    jsonrpc(session, url, '/web/session/authenticate',
            {'db': database, 'login': LOGIN, 'password': PASSWORD})
    simulator.go_down()  # a fresh start: the connections opened before are closed
    simulator.come_up()
    requests_before, connections_before = len(simulator.requests), simulator.connection_count
    started = time.perf_counter()
    answer = jsonrpc(session, url, '/web/dataset/call_kw', {
        'model': 'product.template', 'method': 'action_gelato_fetch_costs',
        'args': [[data['big']]], 'kwargs': {'context': {}}})
    elapsed = time.perf_counter() - started
    calls = len(simulator.requests) - requests_before
    connections = simulator.connection_count - connections_before
    return [('simulator keeping connections alive, as Gelato', calls, connections, elapsed,
             (answer or {}).get('params', {}).get('title'))]


# --- report -------------------------------------------------------------------------------------

def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def summary(values):
    return (f"p50 {statistics.median(values):.3f} s, p95 {percentile(values, 0.95):.3f} s, "
            f"max {max(values):.3f} s")


LOG_LINE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \d+ \w+ \S+ (\S+): (.*)$')
JOB = re.compile(r"Job '(.+?)' \((\d+)\) (starting|fully done|partially done|failed|processed)"
                 r"(?:.*?duration ([\d.]+)s)?")


def cron_runs(log_path):
    """The scheduled actions the cron worker ran: (name, start, end) in wall-clock seconds."""
    runs, open_runs = [], {}
    try:
        with open(log_path, encoding='utf-8', errors='replace') as log:
            for line in log:
                match = LOG_LINE.match(line)
                if not match or 'ir_cron' not in match.group(2):
                    continue
                job = JOB.search(match.group(3))
                if not job:
                    continue
                at = datetime.datetime.strptime(match.group(1), '%Y-%m-%d %H:%M:%S,%f')
                at = at.timestamp()
                if job.group(3) == 'starting':
                    open_runs[job.group(2)] = (job.group(1), at)
                elif job.group(2) in open_runs:
                    name, start = open_runs.pop(job.group(2))
                    runs.append((name, start, at))
    except OSError:
        pass
    return runs


def describe_backlog(log_path, elapsed):
    """What the cron worker did before the measurements: a fresh database has every scheduled
    action due at once, and one cron worker runs them one after the other."""
    runs = cron_runs(log_path)
    kills = 0
    try:
        with open(log_path, encoding='utf-8', errors='replace') as log:
            kills = sum(1 for line in log if re.search(r'WorkerCron \(\d+\) timeout after', line))
    except OSError:
        pass
    longest = sorted(runs, key=lambda r: r[2] - r[1], reverse=True)[:3]
    return (f"the scheduled actions due at start took {elapsed:.0f} s ({len(runs)} runs; longest: "
            + ', '.join(f"{name} {end - start:.1f} s" for name, start, end in longest)
            + f"); the cron worker was killed {kills} time(s) by the watchdog (limit_time_real: "
              f"one pass over the due actions must end within it) and started again; the "
              f"measurements start once none is due")


def explain(results, runs):
    """For each order: how long the outbox's job took to start after the commit, and the jobs
    the cron worker was running when the order was committed."""
    wake, send, busy = [], [], {}
    outbox = [(s, e) for n, s, e in runs if n == OUTBOX_JOB]
    for result in results:
        # The log has millisecond timestamps: the run that sent the order is the first one
        # starting after the commit (the request returns right after it).
        start = next((s for s, _e in outbox if s >= result['wall'] - 0.05), None)
        result['wake'] = result['send'] = None
        if start is not None:
            result['wake'] = start - result['wall']
            wake.append(result['wake'])
            if result['latency'] is not None:
                result['send'] = result['wall'] + result['latency'] - start
                send.append(result['send'])
        result['busy'] = [name for name, s, e in runs
                          if name != OUTBOX_JOB and s <= result['wall'] <= e]
        for name in result['busy']:
            busy[name] = busy.get(name, 0) + 1
    return wake, send, busy


def describe_order(result):
    wake = '?' if result['wake'] is None else f"{result['wake']:.3f}"
    busy = f", cron worker busy with {' + '.join(result['busy'])}" if result['busy'] else ''
    return f"{result['name']} {result['latency']:.3f} s (job started after {wake} s{busy})"


def report(backend, shop, bursts, overall, log_path):
    runs = cron_runs(log_path)
    all_met = True
    for label, results in (('back-office confirmations (JSON-RPC action_confirm)', backend),
                           ('webshop purchases by guests (from /payment/status/poll)', shop)):
        latencies = [r['latency'] for r in results if r['latency'] is not None]
        lost = len(results) - len(latencies)
        if not latencies:
            print(f"{label}: no order reached the simulator: MISSED")
            all_met = False
            continue
        p95 = percentile(latencies, 0.95)
        met = p95 <= TARGET_P95 and not lost
        all_met &= met
        print(f"{label}, {len(results)} orders: {summary(latencies)}"
              f"{f', {lost} never arrived' if lost else ''} (target p95 <= {TARGET_P95:.0f} s): "
              f"{'MET' if met else 'MISSED'}")
        wake, send, busy = explain(results, runs)
        if wake:
            print(f"  from the server log: the outbox's scheduled action started {summary(wake)} "
                  f"after the commit; from its start to the order at Gelato: {summary(send)}")
        runs_done = [r['run'] for r in results if r.get('run') is not None]
        if runs_done:
            print(f"  the outbox's run for one order lasted {summary(runs_done)} in all (what "
                  f"follows the call to Gelato, then the commit): an order confirmed meanwhile "
                  f"waits for it")
        if busy:
            print(f"  the cron worker was busy with other scheduled actions when orders were "
                  f"committed: {busy}")
        slow = sorted((r for r in results if r['latency'] is not None),
                      key=lambda r: r['latency'])[-3:]
        print("  slowest: " + ', '.join(describe_order(r) for r in slow))
    if shop:
        step = [r['step_quotes'] for r in shop]
        whole = [r['checkout_quotes'] for r in shop]
        met = all(q == 1 for q in step)
        all_met &= met
        print(f"quote calls per delivery step ({shop[0]['methods']} Gelato methods shown): "
              f"{dict(sorted(_count(step).items()))}, per whole checkout: "
              f"{dict(sorted(_count(whole).items()))} (target: 1 per delivery step): "
              f"{'MET' if met else 'MISSED'}")
        states = _count(f"{r['tx_state']}/{r['order_state']}" for r in shop)
        print(f"  payments/orders after the poll: {states}")
    for label, calls, connections, elapsed, title in bursts:
        print(f"burst, Fetch costs of 200 variants ({elapsed:.2f} s, {title}): {calls} calls "
              f"over {connections} connections with the {label}: "
              f"{calls / max(connections, 1):.1f} calls per connection")
    requests_total, connections_total = overall
    print(f"the whole run: {requests_total} calls to the simulator over {connections_total} "
          f"connections ({requests_total / max(connections_total, 1):.1f} per connection)")
    crashes = gevent_crashes(log_path)
    if crashes:
        print(f"warning: Odoo's gevent process (--gevent-port) died {crashes} times during the run "
              f"and was started again each time, using CPU beside the measurements: "
              f"see {log_path}.stderr")
    print(f"latency targets: {'MET' if all_met else 'MISSED'}")


def gevent_crashes(log_path):
    """How many times the gevent process failed to start (its traceback is on stderr)."""
    try:
        with open(f'{log_path}.stderr', encoding='utf-8', errors='replace') as errors:
            text = errors.read()
    except OSError:
        return 0
    return text.count('gevent.monkey.patch_all()')


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


if __name__ == '__main__':
    sys.exit(main())
