"""CLI: ``python -m simulator --port 8070 --api-key KEY``; prints the URL template, runs until
SIGINT/SIGTERM."""
import argparse
import signal
import sys
import threading

from .server import GelatoSimulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m simulator',
                                     description='Serve a simulated Gelato API.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8070, help='0 picks a free port')
    parser.add_argument('--api-key', dest='api_keys', action='append',
                        help='accepted X-API-KEY (repeatable; default: sim-key)')
    parser.add_argument('--forbidden-key', dest='forbidden_keys', action='append', default=[],
                        help='X-API-KEY answered with 403 (repeatable)')
    parser.add_argument('--webhook-url', help='where automatic order_status_updated events go')
    parser.add_argument('--webhook-secret', help="value of the webhooks' signature header")
    parser.add_argument('--auto-advance', type=float, metavar='SECONDS',
                        help='move confirmed orders one status forward every SECONDS')
    parser.add_argument('--rate-limit', type=float, metavar='PER_SECOND',
                        help='answer 429 beyond this many API requests per second and API key')
    parser.add_argument('--rate-burst', type=float, metavar='REQUESTS',
                        help='requests an API key may send at once (default: --rate-limit)')
    args = parser.parse_args(argv)
    if args.auto_advance and not args.webhook_url:
        parser.error('--auto-advance needs --webhook-url')
    if args.rate_limit is not None and args.rate_limit < 0:
        parser.error('--rate-limit must not be negative')
    if args.rate_burst is not None and args.rate_burst < 1:
        parser.error('--rate-burst must be at least 1')
    simulator = GelatoSimulator(
        api_keys=args.api_keys or ('sim-key',), host=args.host, port=args.port,
        forbidden_keys=args.forbidden_keys, webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret, auto_advance=args.auto_advance,
        rate_limit=args.rate_limit, rate_burst=args.rate_burst)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())
    simulator.start()
    sys.stdout.write(f'{simulator.api_url_template}\n')
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()


if __name__ == '__main__':
    main()
