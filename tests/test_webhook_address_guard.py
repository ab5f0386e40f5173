"""Webhook steps must not reach the site's own network unless allowed (flow_engine.adapters.net).

The module uses requests but not frappe, so it is tested here against a local HTTP server.
"""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from flow_engine.adapters.net import BlockedAddress, check_url, request
from flow_engine.runtime import StepError


def resolver(*addresses):
	def resolve(host, port, proto=0):
		return [
			(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port))
			for a in addresses
		]

	return resolve


@pytest.mark.parametrize(
	"url, address",
	[
		("http://127.0.0.1/hook", "127.0.0.1"),
		("http://localhost:8000/", "127.0.0.1"),
		("http://[::1]/", "::1"),
		("http://10.1.2.3/", "10.1.2.3"),
		("http://172.16.0.9/", "172.16.0.9"),
		("http://192.168.1.10/", "192.168.1.10"),
		("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
		("http://metadata.internal/", "169.254.169.254"),
		("http://100.64.0.1/", "100.64.0.1"),
		("http://0.0.0.0/", "0.0.0.0"),
		("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
		("http://[fd00::1]/", "fd00::1"),
		("http://rebind.example/", "10.0.0.7"),
	],
)
def test_internal_addresses_are_refused(url, address):
	with pytest.raises(BlockedAddress) as caught:
		check_url(url, resolve=resolver(address))
	assert "internal address" in str(caught.value)
	assert caught.value.retryable is False


def test_a_name_with_any_internal_address_is_refused():
	with pytest.raises(BlockedAddress):
		check_url("https://mixed.example/", resolve=resolver("93.184.216.34", "10.0.0.1"))


def test_public_addresses_pass():
	check_url("https://hooks.example.com/x", resolve=resolver("93.184.216.34"))
	check_url("https://v6.example.com/x", resolve=resolver("2606:2800:220:1:248:1893:25c8:1946"))


@pytest.mark.parametrize(
	"url, problem",
	[
		("ftp://example.com/", "must be http or https, not 'ftp'"),
		("file:///etc/passwd", "must be http or https, not 'file'"),
		("gopher://x/", "must be http or https, not 'gopher'"),
		("http:///nohost", "has no host"),
		("", "must be http or https, not 'empty'"),
	],
)
def test_other_schemes_and_hostless_urls_are_refused(url, problem):
	with pytest.raises(BlockedAddress) as caught:
		check_url(url, resolve=resolver("93.184.216.34"))
	assert problem in str(caught.value)


def test_allow_list_by_host_and_by_network():
	check_url("http://erp.internal/hook", "erp.internal", resolve=resolver("10.0.0.5"))
	check_url("http://erp.internal/hook", "10.0.0.0/8", resolve=resolver("10.0.0.5"))
	check_url("http://erp.internal/hook", "other.internal\n10.0.0.0/24", resolve=resolver("10.0.0.5"))
	with pytest.raises(BlockedAddress):
		check_url("http://erp.internal/hook", "10.0.1.0/24", resolve=resolver("10.0.0.5"))


def test_unresolvable_names_are_a_retryable_failure():
	def fail(*args, **kwargs):
		raise socket.gaierror(-2, "Name or service not known")

	with pytest.raises(StepError) as caught:
		check_url("https://nowhere.invalid/", resolve=fail)
	assert caught.value.retryable is True
	assert not isinstance(caught.value, BlockedAddress)


class _Server:
	def __init__(self, handler):
		self.server = HTTPServer(("127.0.0.1", 0), handler)
		self.url = f"http://127.0.0.1:{self.server.server_port}"
		self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

	def __enter__(self):
		self.thread.start()
		return self

	def __exit__(self, *exc):
		self.server.shutdown()
		self.server.server_close()


def _handler(location=None, status=200):
	class Handler(BaseHTTPRequestHandler):
		seen = []

		def do_POST(self):
			body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
			Handler.seen.append((self.path, dict(self.headers), body))
			self.send_response(302 if location else status)
			if location:
				self.send_header("Location", location)
			self.end_headers()
			self.wfile.write(b"answer")

		do_GET = do_POST

		def log_message(self, *args):
			pass

	return Handler


def test_request_sends_json_and_the_idempotency_key_and_reads_the_answer():
	handler = _handler()
	with _Server(handler) as server:
		answer = request(
			"POST",
			server.url + "/hook",
			body={"a": 1},
			headers={"Idempotency-Key": "FR-1:s"},
			timeout=5,
			allow_list="127.0.0.1/32",
		)
	assert answer == {"status_code": 200, "body": "answer"}
	path, headers, body = handler.seen[0]
	assert (path, body, headers["Idempotency-Key"]) == ("/hook", b'{"a": 1}', "FR-1:s")


def test_a_redirect_to_an_internal_address_is_refused():
	with _Server(_handler(location="http://169.254.169.254/latest/meta-data/")) as server:
		with pytest.raises(BlockedAddress) as caught:
			request("POST", server.url + "/hook", body=None, headers={}, timeout=5, allow_list="127.0.0.1/32")
	assert "169.254.169.254" in str(caught.value)


def test_loopback_is_refused_without_the_allow_list():
	with _Server(_handler()) as server:
		with pytest.raises(BlockedAddress):
			request("GET", server.url, body=None, headers={}, timeout=5, allow_list="")


def test_errors_never_carry_credentials_or_query_strings():
	from flow_engine.runtime.kinds.builtin import redact_url

	assert (
		redact_url("https://user:secret@hooks.example.com:8443/p/x?token=abc#frag")
		== "https://hooks.example.com:8443/p/x?…"
	)
	assert redact_url("http://example.com/plain") == "http://example.com/plain"
	with _Server(_handler(status=200)) as server:
		port = server.server.server_port
	# the server is gone: the connection fails, and the message keeps no secret
	with pytest.raises(StepError) as caught:
		request(
			"POST",
			f"http://u:pw@127.0.0.1:{port}/h?api_key=SECRET",
			body=None,
			headers={},
			timeout=2,
			allow_list="127.0.0.1",
		)
	assert str(caught.value) == f"POST http://127.0.0.1:{port}/h?…: ConnectionError"
