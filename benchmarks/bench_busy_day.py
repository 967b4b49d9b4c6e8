"""Benchmark: a big merchant's busiest day, on two Odoo servers sharing one Gelato rate limit.

Gelato answers HTTP 429 to a client that sends too many requests and asks it to back off
exponentially; it publishes no figure (https://dashboard.gelato.com/docs/). Here the simulator
allows R requests per second (`--rate`, default 10) and 2R at once, per API key, and the addon is
given the same budget (system parameters `gelato_connector.rate_limit` and
`gelato_connector.rate_burst` = R: a token bucket in PostgreSQL that every worker of every server
shares; 0 disables it).

Preparation (in this process, through the ORM, committed): a company configured for the
simulator (API key, `gelato_connector.api_url_template` = the simulator on port 8475, webhook
secret), an internal salesperson, 100 Gelato products of 20 variants each synchronized from the
simulator's templates and published, the demo payment provider, 1,000 quotations of one or two
Gelato variants with Gelato's standard delivery priced (quoted during the preparation, the
limits off), and 500 Gelato orders already sent (as `bench_webhook.prepare` makes them). The
daily cost refresh is moved a day on (it runs when the busy day triggers it), and `report.url`
points to a stand-in answering 404 (see `ReportAssets`: the webshop's confirmation PDFs would
otherwise wait on the servers' own busy workers for their stylesheets).

Then the simulator is served in this process (port 8475; order creations are stamped with this
process's clock) and two Odoo servers as subprocesses on the same database (ports 8471 and 8473,
gevent 8472 and 8474, each `--workers=2 --max-cron-threads=3`: six cron threads for the
outbox's four lanes and the other scheduled actions, as the README advises; logs in
`--log-dir`); once both
answer `/web/health` and no scheduled action is due, the simulator's rate limit is switched on
and, all at once, in threads:

a. the burst: the salesperson confirms the 1,000 quotations over JSON-RPC
   (`sale.order.action_confirm`, one call per order), 4 clients split across both servers;
b. 200 webshop checkouts by guests (`bench_latency.purchase`: product page, cart, address,
   delivery step, demo payment, the status poll that confirms the order), 4 clients alternating
   servers; each `/shop/set_delivery_method` and `/shop/get_delivery_rate` call is timed: the
   checkout's quote;
c. 10,000 webhook deliveries (`order_status_updated`) over the 500 sent orders: 100 bursts of 100,
   a fifth of them duplicates (the same event id posted again), the statuses `passed`,
   `in_production` and `printed` out of order; 4 clients, each a burst at a time then a
   10 s pause (25 a second on average), alternating servers, each delivery followed by a
   `/web/health` request on the same server, timed alike;
d. a catalog change: each of the 100 templates is changed at the simulator and announced by 3
   `store_product_template_updated` webhooks within a second (handled by
   `gelato.event._gelato_handle_template_changed`, which schedules a background sync);
e. the daily cost refresh (`gelato_connector.ir_cron_gelato_costs`) is triggered.

Then it waits until every confirmed order is at the simulator (at most `--timeout` seconds from
the start, default 900), until no product waits for its template sync and until the cost refresh
is done (same deadline), and prints, each with MET or MISSED:
- orders at Gelato exactly once: expected (the 1,000 quotations and the 200 checkouts), at the
  simulator, duplicates (one `orderReferenceId` created more than once) and lost;
- the burst's drain time (its first confirmation to the last of its orders at the simulator),
  against the rate limit's bound: the API calls the simulator accepted meanwhile (every caller's:
  the 429 answers are counted apart, as they take no token) divided by R; target ratio <= 1.2;
- the checkout's quote, p95 <= 1 s;
- webhook and `/web/health` p50 and p95, target webhook p50 <= 1.5x `/web/health` p50, and the
  events processed exactly once (`bench_webhook.check_exactly_once`: one record and one attempt
  per event id, one duplicate record per duplicate delivery, every order at `printed`);
- the 429 answers of the simulator (`throttled`), for information;
- template syncs: the simulator's template GETs, target one per template (100, not 300);
- the cost refresh: the price calls the simulator received and the variants whose
  `gelato_costs_checked_at` moved, target every one of the 2,000 variants, about one call each;
and a last line `busy day targets: MET` or `MISSED`. It exits non-zero only on errors (a failed
preparation, a server that does not start, a client thread that crashed); the servers are
stopped at the end whatever happens, their logs kept.

Usage (scripts/dev.sh bench runs it, GELATO_BENCH=busyday alone):
  python benchmarks/bench_busy_day.py -d DB --addons-path PATHS --odoo-bin ODOO_BIN
         --data-dir DIR [--log-dir DIR] [--rate 10] [--timeout 900]
"""
import argparse
import collections
import concurrent.futures
import copy
import datetime
import http.server
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import traceback

import bench_latency as latency
import bench_webhook as webhook
import requests
from bench_common import synced_product

HTTP_PORTS, GEVENT_PORTS, SIM_PORT = (8471, 8473), (8472, 8474), 8475
API_KEY = 'bench-busyday-key'
LOGIN = PASSWORD = 'bench_busyday_sales'
TEMPLATES, OPTIONS = 100, [('Color', [f'Color {i}' for i in range(4)]),
                           ('Size', [f'Size {i}' for i in range(5)])]  # 20 variants each
QUOTATIONS, CONFIRM_CLIENTS = 1000, 4
CHECKOUTS, CHECKOUT_CLIENTS = 200, 4
SENT_ORDERS, DELIVERIES, DUPLICATE_SHARE, BURST, WEBHOOK_CLIENTS = 500, 10000, 0.2, 100, 4
# A pause after each burst: 10,000 deliveries come over about 400 s (25 a second on average, in
# bursts of 100 per client), as a day's events of the orders would, not all at once.
BURST_PAUSE = 10.0
STATUSES = ('passed', 'in_production', 'printed')  # `printed` last: every order ends there
TEMPLATE_EVENTS, TEMPLATE_STEP = 3, 0.5  # events per template; seconds between templates
TARGET_DRAIN_RATIO, TARGET_QUOTE_P95, TARGET_WEBHOOK_RATIO = 1.2, 1.0, 1.5
TARGET_SYNC_SLACK, TARGET_COST_CALLS_SLACK = 1.1, 1.1
QUOTE_ROUTES = ('/shop/set_delivery_method', '/shop/get_delivery_rate')
PROGRESS_EVERY = 30.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--odoo-bin', help="Odoo's odoo-bin (default: python -m odoo)")
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('--log-dir', help="where the servers' logs go (default: --data-dir)")
    parser.add_argument('--rate', type=float, default=10.0,
                        help="Gelato's rate limit, requests per second (default 10)")
    parser.add_argument('--timeout', type=float, default=900.0,
                        help='seconds from the start to wait for the orders (default 900)')
    args = parser.parse_args()
    log_dir = args.log_dir or args.data_dir
    os.makedirs(log_dir, exist_ok=True)
    logs = [os.path.join(log_dir, f'bench-busyday-server-{port}.log') for port in HTTP_PORTS]

    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(['-d', args.database, '--addons-path', args.addons_path,
                         '--data-dir', args.data_dir, '--http-interface', '127.0.0.1',
                         '--log-level', 'warn'])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo)
    simulator = make_simulator()
    report_assets = ReportAssets()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
          f"rate limit {args.rate:g}/s (simulator burst {2 * args.rate:g}, the addon's "
          f"{args.rate:g})")
    servers = []
    begun = started = time.perf_counter()
    try:
        sent = webhook.prepare(args.database, SENT_ORDERS)  # sets its own API key: first
        registry = Registry(args.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            data = prepare(env, simulator, args.rate, report_assets.url)
            cr.commit()
        registry.signal_changes()
        data['sent'] = sent
        print(f"prepared in {time.perf_counter() - started:.0f} s: {TEMPLATES} products of "
              f"{len(OPTIONS[0][1]) * len(OPTIONS[1][1])} variants, {len(data['quotations'])} "
              f"quotations, {len(sent)} sent Gelato orders")
        started = time.perf_counter()
        servers = [start_server(args, port, gevent, log)
                   for port, gevent, log in zip(HTTP_PORTS, GEVENT_PORTS, logs, strict=True)]
        for server, port, log in zip(servers, HTTP_PORTS, logs, strict=True):
            wait_health(server, port, log)
        backlog = latency.wait_for_idle_crons(registry)
        print(f"2 servers up in {time.perf_counter() - started:.0f} s (workers 2, cron workers 3 "
              f"each; logs {', '.join(logs)}); the scheduled actions due at start took "
              f"{backlog:.0f} s")
        result = busy_day(args, data, simulator, registry)
    finally:
        for server in servers:
            latency.stop_server(server)
        simulator.stop()
        report_assets.stop()
    met = report(args, data, result, logs)
    print(f"the benchmark took {time.perf_counter() - begun:.0f} s in all (preparation, servers, "
          f"the run, the report)")
    print(f"busy day targets: {'MET' if met else 'MISSED'}")
    if result['crashes']:
        print(f"error: {len(result['crashes'])} client thread(s) crashed:")
        for text in result['crashes']:
            print(text)
        return 1
    return 0


# --- the simulator ------------------------------------------------------------------------------

def make_simulator():
    from simulator import GelatoSimulator  # noqa: PLC0415

    class BusySimulator(GelatoSimulator):
        """The simulator, noting when each order is created and when each API call came (this
        process's monotonic clock)."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.created = []  # (orderReferenceId, time)
            self.api_calls = []  # (time, throttled by the rate limit)

        def _create_order(self, body, args):
            response = super()._create_order(body, args)
            if response.status_code == 200 and isinstance(body, dict):
                self.created.append((body.get('orderReferenceId'), time.perf_counter()))
            return response

        def _take_token(self, key):  # every API call goes through it, limited or not
            wait = super()._take_token(key)
            self.api_calls.append((time.perf_counter(), wait > 0))
            return wait

    return BusySimulator(api_keys=(API_KEY,), port=SIM_PORT).start()


class ReportAssets:
    """What `report.url` points to: a server answering 404 at once to everything.

    A paid webshop order sends its confirmation email with the order's PDF, rendered by
    wkhtmltopdf inside the request; wkhtmltopdf asks `report.url` (by default the server itself)
    for the stylesheets. With the 2 workers of a server all in such requests, nobody answers it,
    and every worker waits until the watchdog kills it (limit_time_real, 120 s): the benchmark
    is about Gelato, so the PDFs are made without their stylesheets instead."""

    def __init__(self):
        class NotFound(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_error(404)

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), NotFound)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- preparation --------------------------------------------------------------------------------

def prepare(env, simulator, rate, report_url):
    """Company, salesperson, products, payment provider, quotations (see the docstring)."""
    from odoo import Command, fields  # noqa: PLC0415
    rng = random.Random(42)
    company = env.company
    ICP = env['ir.config_parameter']
    # The addon's shared budget stays off while preparing: 1,100 calls at 10/s would take minutes.
    ICP.set_param('gelato_connector.rate_limit', '0')
    ICP.set_param('gelato_connector.api_url_template', f'{simulator.url}/{{service}}')
    ICP.set_param('web.base.url', f'http://127.0.0.1:{HTTP_PORTS[0]}')
    ICP.set_param('report.url', report_url)
    # The daily cost refresh runs when the busy day triggers it, not when the servers start.
    env.ref('gelato_connector.ir_cron_gelato_costs').nextcall = \
        fields.Datetime.now() + datetime.timedelta(days=1)
    company.write({'gelato_enabled': True, 'gelato_api_key': API_KEY,
                   'gelato_webhook_secret': webhook.SECRET})
    if not company.partner_id.street:
        company.partner_id.write({
            'street': 'Skovvej 1', 'city': 'Copenhagen', 'zip': '2100',
            'country_id': env.ref('base.dk').id, 'email': 'shop@example.com',
        })
    started = time.perf_counter()
    products = env['product.template']
    for index in range(TEMPLATES):
        products |= synced_product(env, simulator, f'bench-busyday-{index:03d}', OPTIONS,
                                   name=f'Busy Day Poster {index:03d}')
    products.write({'is_published': True})
    env.flush_all()
    print(f"  {TEMPLATES} templates synchronized in {time.perf_counter() - started:.0f} s")
    provider = env.ref('payment.payment_provider_demo')
    provider.write({'state': 'test', 'is_published': True, 'company_id': company.id})
    customer = env['res.partner'].create({
        'name': 'Busy Day Customer', 'street': 'Unter den Linden 5', 'city': 'Berlin',
        'zip': '10117', 'country_id': env.ref('base.de').id, 'email': 'busyday@example.com',
        'phone': '+49 30 1234567',
    })
    Users = env['res.users'].with_context(no_reset_password=True)
    user = Users.search([('login', '=', LOGIN)]) or Users.create({
        'name': 'Busy Day Salesperson', 'login': LOGIN, 'email': 'busyday-sales@example.com',
        'group_ids': [Command.link(env.ref('sales_team.group_sale_manager').id),
                      Command.link(env.ref('product.group_product_manager').id)],
    })
    user.password = PASSWORD
    started = time.perf_counter()
    variants = products.product_variant_ids
    carrier = env.ref('gelato_connector.delivery_carrier_gelato_standard')
    quotations = env['sale.order'].create([{
        'partner_id': customer.id, 'user_id': user.id,
        'order_line': [Command.create({'product_id': variant.id,
                                       'product_uom_qty': rng.randint(1, 3)})
                       for variant in rng.sample(list(variants), rng.randint(1, 2))],
    } for _i in range(QUOTATIONS)])
    for order in quotations:
        rate_answer = carrier.rate_shipment(order)
        if not rate_answer['success']:
            raise RuntimeError(f"{order.name}: {rate_answer['error_message']}")
        order.set_delivery_line(carrier, rate_answer['price'])
    env.flush_all()
    print(f"  {QUOTATIONS} quotations made and quoted in {time.perf_counter() - started:.0f} s")
    ICP.set_param('gelato_connector.rate_limit', str(rate))
    ICP.set_param('gelato_connector.rate_burst', str(rate))
    return {
        'quotations': [(o.id, o.name) for o in quotations],
        'products': [(p.id, p.product_variant_ids[0].id, p.gelato_template_ref) for p in products],
        'template_ids': products.ids,
        'country': env.ref('base.de').id,
    }


# --- the servers --------------------------------------------------------------------------------

def start_server(args, port, gevent_port, log_path):
    """One Odoo server with workers, as `bench_latency.start_server`, on its own ports and log."""
    for path in (log_path, f'{log_path}.stderr'):
        if os.path.exists(path):
            os.unlink(path)
    odoo_cmd = [sys.executable, args.odoo_bin] if args.odoo_bin else \
        [sys.executable, '-m', 'odoo']
    command = [*odoo_cmd, f'--addons-path={args.addons_path}',
               f'--data-dir={args.data_dir}', '-d', args.database,
               f'--db-filter=^{re.escape(args.database)}$', '--http-interface=127.0.0.1',
               f'--http-port={port}', f'--gevent-port={gevent_port}', '--workers=2',
               '--max-cron-threads=3', '--log-level=info', f'--logfile={log_path}']
    with open(f'{log_path}.stderr', 'wb') as errors:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                start_new_session=True)


def wait_health(server, port, log_path, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Odoo on port {port} exited with {server.returncode}: see "
                               f"{log_path}")
        try:
            if requests.get(f'http://127.0.0.1:{port}/web/health', timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"Odoo did not answer on port {port}: see {log_path}")


def urls():
    return [f'http://127.0.0.1:{port}' for port in HTTP_PORTS]


# --- the busy day -------------------------------------------------------------------------------

class Run:
    """What the client threads record (lists appended from several threads)."""

    def __init__(self):
        self.confirmed, self.confirm_errors = {}, []  # name -> (start, end)
        self.checkouts, self.checkout_errors, self.quote_times = [], [], []
        self.webhook_times, self.health_times, self.webhook_codes = [], [], []
        self.template_codes, self.template_posts = [], collections.defaultdict(list)
        self.crashes = []
        self.deadline = float('inf')  # the clients stop there, what is left unsent
        self.api_from = 0  # the simulator's API calls before the run
        self.done = collections.Counter()

    def guarded(self, target, *args):
        def run():
            try:
                target(*args)
            except Exception:  # noqa: BLE001 - reported; the other clients go on
                self.crashes.append(traceback.format_exc())
        return threading.Thread(target=run, daemon=True)


def busy_day(args, data, simulator, registry):
    run = Run()
    patch_purchase(run)
    deliveries, event_ids, duplicates = webhook_bursts(data['sent'])
    simulator.set_rate_limit(args.rate, 2 * args.rate)
    request_index = len(simulator.requests)
    run.api_from = len(simulator.api_calls)
    run_start = time.perf_counter()
    run.deadline = run_start + args.timeout
    threads = [run.guarded(confirm_client, run, args.database,
                           data['quotations'][i::CONFIRM_CLIENTS], urls()[i % 2])
               for i in range(CONFIRM_CLIENTS)]
    threads += [run.guarded(checkout_client, run, data, simulator, registry,
                            range(i, CHECKOUTS, CHECKOUT_CLIENTS)) for i in range(CHECKOUT_CLIENTS)]
    queue = list(deliveries)
    lock = threading.Lock()
    threads += [run.guarded(webhook_client, run, queue, lock, i) for i in range(WEBHOOK_CLIENTS)]
    run.unsent_bursts = queue
    threads.append(run.guarded(catalog_change, run, simulator, data))
    costs_at = trigger_costs(registry)
    for thread in threads:
        thread.start()
    last_progress = time.perf_counter()
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.5)
        if time.perf_counter() - last_progress >= PROGRESS_EVERY:
            last_progress = time.perf_counter()
            progress(run, simulator, run_start)
    clients_done = time.perf_counter() - run_start
    print(f"clients done after {clients_done:.0f} s: {dict(run.done)}")

    expected = {name for _id, name in data['quotations']} | {
        c['name'] for c in run.checkouts if c.get('order_state') == 'sale'}
    deadline = run.deadline
    while time.perf_counter() < deadline:
        if expected <= arrived_names(simulator):
            break
        time.sleep(1)
        if time.perf_counter() - last_progress >= PROGRESS_EVERY:
            last_progress = time.perf_counter()
            progress(run, simulator, run_start, len(expected))
    orders_done = time.perf_counter() - run_start
    syncs_waited = wait_until(registry, deadline, pending_syncs, data['template_ids'])
    costs_waited = wait_until(registry, deadline, cost_refresh_busy)
    end = time.perf_counter() - run_start
    print(f"waited: orders until {orders_done:.0f} s, template syncs until "
          f"{syncs_waited - run_start:.0f} s, the cost refresh until "
          f"{costs_waited - run_start:.0f} s (the run: {end:.0f} s)")
    return {
        'run': run, 'start': run_start, 'requests_from': request_index, 'expected': expected,
        'event_ids': event_ids, 'duplicates': duplicates, 'costs_at': costs_at,
        'unsent': sum(len(b) for b in queue) + run.done['webhooks not sent'],
        'pending_syncs': pending_syncs(registry, data['template_ids']),
        'costs_busy': cost_refresh_busy(registry),
        'crashes': run.crashes, 'simulator': simulator, 'registry': registry,
        'elapsed': end,
    }


def progress(run, simulator, run_start, expected=None):
    arrived = len(arrived_names(simulator))
    print(f"  {time.perf_counter() - run_start:5.0f} s: {dict(run.done)}; orders at Gelato "
          f"{arrived}{f'/{expected}' if expected else ''}; API calls "
          f"{len(simulator.api_calls) - run.api_from}, 429 answers {simulator.throttled}",
          flush=True)


def arrived_names(simulator):
    return {ref.split('-', 1)[0] for ref, _at in list(simulator.created) if ref}


def patch_purchase(run):
    """`bench_latency.purchase` as it is, with two changes made through its module: the
    delivery step's calls are timed, and it does not wait for the order to reach Gelato (it
    waits up to a minute per order: the arrivals are followed here for every order at once)."""
    original = latency.jsonrpc

    def timed_jsonrpc(session, url, route, params=None):
        if route not in QUOTE_ROUTES:
            return original(session, url, route, params)
        started = time.perf_counter()
        try:
            return original(session, url, route, params)
        finally:
            run.quote_times.append(time.perf_counter() - started)

    latency.jsonrpc = timed_jsonrpc
    latency.wait_arrival = lambda simulator, name, started: None


def confirm_client(run, database, quotations, url):
    session = requests.Session()
    latency.jsonrpc(session, url, '/web/session/authenticate',
                    {'db': database, 'login': LOGIN, 'password': PASSWORD})
    for order_id, name in quotations:
        started = time.perf_counter()
        if started >= run.deadline:
            run.done['confirmations not sent'] += 1
            continue
        try:
            latency.jsonrpc(session, url, '/web/dataset/call_kw', {
                'model': 'sale.order', 'method': 'action_confirm', 'args': [[order_id]],
                'kwargs': {'context': {}}})
        except (requests.RequestException, RuntimeError) as error:
            run.confirm_errors.append(f"{name}: {error}")
            run.done['confirm errors'] += 1
            continue
        run.confirmed[name] = (started, time.perf_counter())
        run.done['confirmed'] += 1


def checkout_client(run, data, simulator, registry, indexes):
    for index in indexes:
        if time.perf_counter() >= run.deadline:
            run.done['checkouts not started'] += 1
            continue
        template_id, variant_id, _ref = data['products'][index % len(data['products'])]
        url = urls()[index % 2]
        try:
            result = latency.purchase(url, {'product': (template_id, variant_id),
                                            'country': data['country']},
                                      simulator, registry, index)
        except Exception as error:  # noqa: BLE001 - a failed checkout is a figure
            run.checkout_errors.append(f"checkout {index}: {type(error).__name__}: {error}")
            run.done['checkout errors'] += 1
            continue
        run.checkouts.append(result)
        run.done['checkouts'] += 1


def webhook_bursts(sent):
    """The deliveries, in bursts of BURST: the events of a burst's orders (STATUSES shuffled)
    and a fifth of duplicates of events of the same or the previous burst."""
    rng = random.Random(7)
    unique_per_burst = int(BURST * (1 - DUPLICATE_SHARE))
    unique_total = DELIVERIES // BURST * unique_per_burst
    per_order = unique_total // len(sent)
    unique = []
    for gelato_id, reference in sent:
        statuses = [STATUSES[i % len(STATUSES)] for i in range(per_order - 1)] + ['printed']
        unique += [webhook.event(gelato_id, reference, status) for status in statuses]
    unique += [webhook.event(*sent[i % len(sent)], 'printed')
               for i in range(unique_total - len(unique))]
    rng.shuffle(unique)
    bursts, previous = [], []
    for start in range(0, len(unique), unique_per_burst):
        own = unique[start:start + unique_per_burst]
        burst = own + [rng.choice(own + previous) for _i in range(BURST - len(own))]
        rng.shuffle(burst)
        bursts.append(burst)
        previous = own
    duplicates = sum(len(b) for b in bursts) - len(unique)
    return bursts, {event['id'] for event in unique}, duplicates


def post_webhook(session, url, payload):
    started = time.perf_counter()
    response = session.post(f'{url}/gelato/webhook', data=json.dumps(payload), timeout=120,
                            headers={'signature': webhook.SECRET,
                                     'Content-Type': 'application/json'})
    return time.perf_counter() - started, response.status_code


def webhook_client(run, queue, lock, index):
    sessions = [requests.Session() for _url in urls()]
    turn = index
    while time.perf_counter() < run.deadline:
        with lock:
            if not queue:
                return
            burst = queue.pop(0)
        for payload in burst:
            if time.perf_counter() >= run.deadline:
                run.done['webhooks not sent'] += 1
                continue
            server = turn % 2
            turn += 1
            url, session = urls()[server], sessions[server]
            try:
                elapsed, status = post_webhook(session, url, payload)
                run.webhook_times.append(elapsed)
                run.webhook_codes.append(status)
                started = time.perf_counter()
                health = session.get(f'{url}/web/health', timeout=60)
                if health.status_code == 200:
                    run.health_times.append(time.perf_counter() - started)
            except requests.RequestException as error:
                run.webhook_codes.append(type(error).__name__)
            run.done['webhooks'] += 1
        time.sleep(BURST_PAUSE)


def catalog_change(run, simulator, data):
    """Each template changed at Gelato, then announced 3 times within a second (at 0, 0.3 and
    0.6 s, each post from a thread of its own, so that a slow answer does not delay the next),
    a template every TEMPLATE_STEP seconds."""
    from simulator.webhooks import now_iso  # noqa: PLC0415
    refs = [ref for _t, _v, ref in data['products']]
    local = threading.local()

    def announce(ref, server, at):
        time.sleep(max(0.0, at - time.perf_counter()))
        if time.perf_counter() >= run.deadline:
            return
        if not hasattr(local, 'sessions'):
            local.sessions = [requests.Session() for _url in urls()]
        payload = simulator.build_event('store_product_template_updated', template_id=ref)
        run.template_posts[ref].append(time.perf_counter())
        try:
            _elapsed, status = post_webhook(local.sessions[server], urls()[server], payload)
        except requests.RequestException as error:
            status = type(error).__name__
        run.template_codes.append(status)
        run.done['template webhooks'] += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=TEMPLATE_EVENTS * 4) as pool:
        futures, turn = [], 0
        for ref in refs:
            if time.perf_counter() >= run.deadline:
                break
            template = copy.deepcopy(simulator.templates[ref])
            template['title'] = f"{template['title']} (new season)"
            template['updatedAt'] = now_iso()
            simulator.add_template(template)
            start = time.perf_counter()
            for number in range(TEMPLATE_EVENTS):
                futures.append(pool.submit(announce, ref, turn % 2, start + 0.3 * number))
                turn += 1
            time.sleep(TEMPLATE_STEP)
        for future in futures:
            future.result()


def trigger_costs(registry):
    """Wake the daily cost refresh now, as Odoo does for a triggered action; return when (UTC)."""
    import odoo  # noqa: PLC0415
    with registry.cursor() as cr:
        cr.execute("SELECT now() AT TIME ZONE 'UTC'")
        at = cr.fetchone()[0]
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env.ref('gelato_connector.ir_cron_gelato_costs')._trigger()
    return at


def pending_syncs(registry, template_ids):
    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM product_template WHERE id = ANY(%s) "
                   "AND gelato_template_state = 'update_pending'", (template_ids,))
        return cr.fetchone()[0]


def cost_refresh_busy(registry):
    """Whether the cost refresh is due or running (a running action's row is locked)."""
    with registry.cursor() as cr:
        cr.execute("""
            SELECT c.id FROM ir_cron c JOIN ir_model_data d
                ON d.model = 'ir.cron' AND d.res_id = c.id
               AND d.module = 'gelato_connector' AND d.name = 'ir_cron_gelato_costs'
        """)
        cron_id = cr.fetchone()[0]
        cr.execute("""
            SELECT (nextcall <= now() AT TIME ZONE 'UTC') OR EXISTS (
                       SELECT 1 FROM ir_cron_trigger WHERE cron_id = %s
                          AND call_at <= now() AT TIME ZONE 'UTC')
              FROM ir_cron WHERE id = %s
        """, (cron_id, cron_id))
        if cr.fetchone()[0]:
            return True
        # Not due: no cron worker tries to take it, so the lock taken here delays none.
        cr.execute("SELECT id FROM ir_cron WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                   (cron_id,))
        running = not cr.fetchone()
        cr.rollback()
        return running


def wait_until(registry, deadline, busy, *args):
    """Wait while `busy(registry, *args)`, at most until `deadline`; return when it ended."""
    while time.perf_counter() < deadline and busy(registry, *args):
        time.sleep(1)
    return time.perf_counter()


# --- report -------------------------------------------------------------------------------------

def verdict(met):
    return 'MET' if met else 'MISSED'


def ms(values, share):
    return f"{latency.percentile(values, share) * 1000:.0f} ms" if values else '-'


def report(args, data, result, logs):
    run, simulator, registry = result['run'], result['simulator'], result['registry']
    all_met = True
    elapsed = result['elapsed']
    print(f"the run took {elapsed:.0f} s (clients and the waits for Gelato)")

    # Orders at Gelato exactly once.
    created = collections.Counter(ref for ref, _at in simulator.created if ref)
    arrivals = {}
    for ref, at in simulator.created:
        if ref:
            arrivals.setdefault(ref.split('-', 1)[0], at)
    refs_per_name = collections.defaultdict(set)
    for ref in created:
        refs_per_name[ref.split('-', 1)[0]].add(ref)
    wanted = {name for _id, name in data['quotations']} | {
        c['name'] for c in run.checkouts if c.get('order_state') == 'sale'}
    expected = QUOTATIONS + CHECKOUTS
    at_gelato = len(wanted & set(arrivals))
    duplicates = sum(n - 1 for ref, n in created.items()
                     if ref.split('-', 1)[0] in wanted and n > 1)
    several = sum(1 for name in wanted if len(refs_per_name.get(name, ())) > 1)
    lost = expected - at_gelato
    met = at_gelato == expected and not duplicates and not several
    all_met &= met
    print(f"orders at Gelato exactly once: {expected} expected ({QUOTATIONS} quotations "
          f"confirmed over JSON-RPC, {CHECKOUTS} webshop checkouts), {at_gelato} at the "
          f"simulator, {duplicates} duplicates (an orderReferenceId created again)"
          f"{f', {several} orders under several references' if several else ''}, {lost} lost: "
          f"{verdict(met)}")
    if run.confirm_errors:
        print(f"  {len(run.confirm_errors)} confirmations failed, e.g. {run.confirm_errors[:3]}")
    if run.checkout_errors:
        print(f"  {len(run.checkout_errors)} checkouts failed, e.g. {run.checkout_errors[:3]}")
    not_sale = [c['name'] for c in run.checkouts if c.get('order_state') != 'sale']
    if not_sale:
        print(f"  {len(not_sale)} checkouts did not confirm their order: {not_sale[:5]}")
    missing = sorted(wanted - set(arrivals))
    if missing:
        print(f"  not at Gelato: {len(missing)} orders, outbox states "
              f"{outbox_states(registry, missing)}")

    # The burst's drain against the rate limit's bound.
    burst = [name for _id, name in data['quotations']]
    starts = [run.confirmed[name][0] for name in burst if name in run.confirmed]
    burst_arrivals = [arrivals[name] for name in burst if name in arrivals]
    if starts and len(burst_arrivals) == len(burst):
        first, drained = min(starts), max(burst_arrivals)
        drain = drained - first
        window = [throttled for at, throttled in simulator.api_calls if first <= at <= drained]
        accepted = window.count(False)
        bound = accepted / args.rate
        ratio = drain / bound if bound else float('inf')
        met = ratio <= TARGET_DRAIN_RATIO
        confirms = max(run.confirmed[name][1] for name in burst if name in run.confirmed)
        print(f"the burst's drain: {drain:.1f} s from the first confirmation to the last of its "
              f"{len(burst)} orders at Gelato (confirmations took {confirms - first:.1f} s); the "
              f"simulator accepted {accepted} API calls meanwhile ({len(window) - accepted} more "
              f"answered 429), bound {accepted} / {args.rate:g} per s = {bound:.1f} s: ratio "
              f"{ratio:.2f} (target <= {TARGET_DRAIN_RATIO}): {verdict(met)}")
    else:
        met = False
        print(f"the burst's drain: {len(burst_arrivals)} of its {len(burst)} orders at Gelato "
              f"within {args.timeout:.0f} s: not drained: MISSED")
    all_met &= met
    calls = collections.Counter(kind_of(r['path']) for r in
                                simulator.requests[result['requests_from']:]
                                if not r['path'].startswith('/_simulator/'))
    print(f"  API calls during the run, by kind: {dict(calls.most_common())}")

    # The checkout's quote.
    quotes = run.quote_times
    met = bool(quotes) and latency.percentile(quotes, 0.95) <= TARGET_QUOTE_P95 \
        and not run.checkout_errors
    all_met &= met
    print(f"checkout quote ({len(quotes)} delivery-step calls of {len(run.checkouts)} completed "
          f"checkouts of {CHECKOUTS}): p50 {ms(quotes, 0.5)}, p95 {ms(quotes, 0.95)}, max "
          f"{ms(quotes, 1.0)} (target p95 <= {TARGET_QUOTE_P95:.0f} s, every checkout done): "
          f"{verdict(met)}")

    # Webhooks against /web/health, and exactly once.
    hooks, health = run.webhook_times, run.health_times
    if hooks and health:
        ratio = statistics.median(hooks) / statistics.median(health)
        met = ratio <= TARGET_WEBHOOK_RATIO
        print(f"webhook deliveries ({len(hooks)} answered): p50 {ms(hooks, 0.5)}, p95 "
              f"{ms(hooks, 0.95)}; /web/health alongside: p50 {ms(health, 0.5)}, p95 "
              f"{ms(health, 0.95)}; p50 ratio {ratio:.2f}x (target <= {TARGET_WEBHOOK_RATIO}x): "
              f"{verdict(met)}")
    else:
        met = False
        print("webhook deliveries: none answered: MISSED")
    all_met &= met
    codes = collections.Counter(run.webhook_codes)
    check = webhook.check_exactly_once(args.database, result['event_ids'], result['duplicates'],
                                       [g for g, _r in data['sent']])
    errors = sum(n for code, n in codes.items() if not isinstance(code, int) or code >= 500)
    met = check['once'] and check['duplicates_ok'] and check['final_ok'] and not errors
    all_met &= met
    print(f"events processed exactly once: {len(result['event_ids'])} events and "
          f"{result['duplicates']} duplicate deliveries (answers {dict(codes)}): "
          f"{check['recorded']} recorded, each once: {check['once']} (states {check['states']}), "
          f"{check['duplicate_records']} duplicate records, final statuses {check['final']}: "
          f"{verdict(met)}")
    if result['unsent']:
        print(f"  {result['unsent']} deliveries were not sent before the deadline "
              f"(--timeout {args.timeout:.0f} s): their events are missing above")
    print(f"429 answers of the simulator (rate limit {args.rate:g}/s, burst {2 * args.rate:g}): "
          f"{simulator.throttled}")

    # Template syncs.
    refs = {ref for _t, _v, ref in data['products']}
    gets = collections.Counter()
    for entry in simulator.requests[result['requests_from']:]:
        match = re.fullmatch(r'/ecommerce/v1/templates/([^/]+)', entry['path'])
        if entry['method'] == 'GET' and match and match[1] in refs:
            gets[match[1]] += 1
    total_gets = sum(gets.values())
    met = len(gets) == len(refs) and total_gets <= TARGET_SYNC_SLACK * len(refs) \
        and not result['pending_syncs']
    all_met &= met
    template_codes = collections.Counter(run.template_codes)
    spreads = [max(times) - min(times) for times in run.template_posts.values() if times]
    within = sum(1 for spread in spreads if spread <= 1.0)
    print(f"template syncs: {len(refs) * TEMPLATE_EVENTS} template-changed webhooks (answers "
          f"{dict(template_codes)}; the 3 of a template posted within a second for {within} of "
          f"{len(spreads)} templates) for {len(refs)} templates: {total_gets} template GETs at the "
          f"simulator, {len(gets)} templates fetched, at most {max(gets.values(), default=0)} "
          f"times one, {result['pending_syncs']} still waiting (target: one sync per template, "
          f"<= {TARGET_SYNC_SLACK * len(refs):.0f} GETs): {verdict(met)}")

    # The cost refresh.
    price_calls = sum(1 for entry in simulator.requests[result['requests_from']:]
                      if re.fullmatch(r'/product/v3/products/[^/]+/prices', entry['path']))
    with registry.cursor() as cr:
        cr.execute("""
            SELECT count(*), count(*) FILTER (WHERE p.gelato_costs_checked_at >= %s)
              FROM product_product p
             WHERE p.product_tmpl_id = ANY(%s) AND p.gelato_product_uid IS NOT NULL
        """, (result['costs_at'] - datetime.timedelta(seconds=1), data['template_ids']))
        variants, refreshed = cr.fetchone()
    met = refreshed == variants and price_calls <= TARGET_COST_CALLS_SLACK * variants \
        and not result['costs_busy']
    all_met &= met
    print(f"cost refresh (triggered at the start): {price_calls} price calls at the simulator, "
          f"{refreshed} of {variants} variants refreshed"
          f"{', still running at the deadline' if result['costs_busy'] else ''} (target: every "
          f"variant, about one call each): {verdict(met)}")

    for log in logs:
        crashes = latency.gevent_crashes(log)
        if crashes:
            print(f"warning: the gevent process of {log} died {crashes} times during the run")
        cron_kills, http_kills = watchdog_kills(log)
        if cron_kills:
            print(f"warning: {sum(cron_kills.values())} cron workers of {log} were killed by the "
                  f"watchdog (limit_time_real: one pass of a cron worker must end within it), "
                  f"while running: {dict(cron_kills)} (their work since the last commit is lost)")
        if http_kills:
            print(f"warning: {http_kills} HTTP workers of {log} were killed by the watchdog")
    return all_met


def watchdog_kills(log_path):
    """The cron workers the watchdog killed, by the scheduled action each was running, and the
    HTTP workers it killed."""
    running, cron_kills, http_kills = {}, collections.Counter(), 0
    try:
        with open(log_path, encoding='utf-8', errors='replace') as log:
            for line in log:
                job = re.search(r'^\S+ \S+ (\d+) .*?Job \'(.+?)\' \(\d+\) (starting|fully done|'
                                r'partially done|failed|processed)', line)
                if job:
                    running[job[1]] = job[2] if job[3] == 'starting' else None
                    continue
                kill = re.search(r'Worker(Cron|HTTP)? \((\d+)\) timeout after', line)
                if kill and kill[1] == 'Cron':
                    cron_kills[running.get(kill[2]) or 'between actions'] += 1
                elif kill:
                    http_kills += 1
    except OSError:
        pass
    return cron_kills, http_kills


def kind_of(path):
    """A request path with its ids left out, to count the calls by kind."""
    path = re.sub(r'/v1/templates/[^/]+', '/v1/templates/<id>', path)
    path = re.sub(r'/products/[^/]+/prices', '/products/<uid>/prices', path)
    path = re.sub(r'/v3/products/[^/]+$', '/v3/products/<uid>', path)
    path = re.sub(r'/v4/orders/[^/:]+', '/v4/orders/<id>', path)
    return path


def outbox_states(registry, names):
    with registry.cursor() as cr:
        cr.execute("""
            SELECT g.state, count(*) FROM gelato_order g JOIN sale_order s
                ON s.id = g.sale_order_id WHERE s.name = ANY(%s) GROUP BY g.state
        """, (list(names),))
        states = dict(cr.fetchall())
        cr.execute("""
            SELECT g.last_error FROM gelato_order g JOIN sale_order s ON s.id = g.sale_order_id
             WHERE s.name = ANY(%s) AND g.last_error IS NOT NULL LIMIT 1
        """, (list(names),))
        error = cr.fetchone()
    return f"{states}{f', e.g. last error: {error[0][:200]}' if error else ''}"


if __name__ == '__main__':
    sys.exit(main())
