"""Keep-alive for the Gelato simulator, in the benchmarks only.

The simulator's request handler asks for HTTP/1.1, but werkzeug's development server (2.2, the
version Odoo 19 pins) adds `Connection: close` to every answer ("Always close the connection"
in `werkzeug.serving.WSGIRequestHandler.run_wsgi`): each call to the simulator then needs a TCP
connection of its own, whatever the client pools, and `connectionCount` always equals the
number of calls. Gelato's API keeps connections alive. To measure how many calls the addon sends
per connection, the benchmarks can serve the simulator with a handler that leaves that header
out (the simulator reads every request body in full, so the stream stays in step).
"""
import socket

from simulator import server as simulator_server

_StockHandler = simulator_server._QuietHandler


class KeepAliveHandler(_StockHandler):
    """The simulator's handler, without werkzeug's `Connection: close`.

    The answer's headers and body leave in separate writes: on a connection that stays open,
    Nagle's algorithm would hold the body until the client acknowledges the headers, which a
    client delays (about 40 ms a call). The socket is set to TCP_NODELAY, as servers that keep
    connections alive do.
    """

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_header(self, keyword, value):
        if keyword.lower() == 'connection' and value.strip().lower() == 'close':
            return
        super().send_header(keyword, value)


def enable():
    """Serve simulators bound from now on with keep-alive connections."""
    simulator_server._QuietHandler = KeepAliveHandler


def disable():
    """Serve simulators bound from now on as the simulator does (one connection per call)."""
    simulator_server._QuietHandler = _StockHandler
