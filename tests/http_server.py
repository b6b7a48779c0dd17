"""A local HTTP file server for the download tests: 127.0.0.1 on a port the system picks, with Range support,
and a log of the requests it answered."""
import contextlib
import functools
import http.server
import os
import re
import threading

_RANGE = re.compile(r'bytes=(\d+)-$')


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files of `directory`, honouring `Range: bytes=N-` with 206 answers; logs (path, range)."""

    def __init__(self, *args, log, **kwargs):
        self.log = log
        super().__init__(*args, **kwargs)

    def do_GET(self):
        path = self.translate_path(self.path)
        requested = self.headers.get('Range')
        self.log.append((self.path, requested))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        match = _RANGE.match(requested or '')
        start = int(match.group(1)) if match else 0
        if start >= size and match:
            self.send_error(416)
            return
        self.send_response(206 if match else 200)
        self.send_header('Content-Length', str(size - start))
        self.end_headers()
        with open(path, 'rb') as handle:
            handle.seek(start)
            self.wfile.write(handle.read())

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Yield (base URL, request log) of a server over `directory`; stopped on exit."""
    log = []
    handler = functools.partial(_Handler, directory=str(directory), log=log)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', log
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (a port bound and released again)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}'
