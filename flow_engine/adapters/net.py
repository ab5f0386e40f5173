"""Outbound HTTP for webhook steps: refuse addresses inside the site's network unless allowed.

Loopback, private, link-local (cloud metadata lives at 169.254.169.254), shared, multicast and
reserved addresses are refused, whether written as an IP or reached through a DNS name, and
again after every redirect (redirects are followed by hand, at most five). Flow Settings can
allow named hosts or networks.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import requests

from flow_engine.runtime import StepError
from flow_engine.runtime.i18n import _
from flow_engine.runtime.kinds.builtin import redact_url

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 64 * 1024


class BlockedAddress(StepError):
	def __init__(self, message: str):
		super().__init__(message, retryable=False)


def parse_allow_list(text: str | None) -> tuple[set[str], list]:
	hosts, networks = set(), []
	for line in (text or "").replace(",", "\n").splitlines():
		entry = line.strip().lower()
		if not entry:
			continue
		try:
			networks.append(ipaddress.ip_network(entry, strict=False))
		except ValueError:
			hosts.add(entry)
	return hosts, networks


def _is_internal(address: ipaddress._BaseAddress) -> bool:
	if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
		address = address.ipv4_mapped
	return (
		address.is_loopback
		or address.is_private
		or address.is_link_local
		or address.is_multicast
		or address.is_reserved
		or address.is_unspecified
		or (isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"))
	)


def check_url(url: str, allow_list: str | None = None, resolve=socket.getaddrinfo) -> None:
	"""Raise BlockedAddress when `url` may not be called."""
	parts = urlsplit(url)
	if parts.scheme not in ("http", "https"):
		raise BlockedAddress(f"webhook URL must be http or https, not {parts.scheme or 'empty'!r}")
	host = (parts.hostname or "").lower()
	if not host:
		raise BlockedAddress("webhook URL has no host")
	hosts, networks = parse_allow_list(allow_list)
	if host in hosts:
		return
	try:
		infos = resolve(
			host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
		)
	except (socket.gaierror, UnicodeError) as exc:
		raise StepError(_("cannot resolve {0}: {1}").format(host, exc)) from None
	for info in infos:
		address = ipaddress.ip_address(info[4][0].split("%")[0])
		if _is_internal(address) and not any(address in network for network in networks):
			raise BlockedAddress(
				f"{host} resolves to {address}, an internal address; allow it in Flow Settings if intended"
			)


def request(method: str, url: str, *, body, headers: dict, timeout: float, allow_list: str | None) -> dict:
	"""One HTTP call with the address check on the URL and on each redirect."""
	data = None
	json_body = None
	if isinstance(body, dict | list):
		json_body = body
	elif body not in (None, ""):
		data = str(body).encode()
	for _hop in range(MAX_REDIRECTS + 1):
		check_url(url, allow_list)
		try:
			response = requests.request(
				method,
				url,
				json=json_body,
				data=data,
				headers=headers,
				timeout=(min(timeout, 10), timeout),
				allow_redirects=False,
				stream=True,
			)
		except requests.RequestException as exc:
			# requests puts the whole URL in its messages: keep only the kind of failure
			raise StepError(f"{method} {redact_url(url)}: {type(exc).__name__}") from None
		if response.is_redirect and response.headers.get("location"):
			url = urljoin(url, response.headers["location"])
			if response.status_code in (301, 302, 303):
				method, json_body, data = "GET", None, None
			response.close()
			continue
		content = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True) if response.raw else b""
		response.close()
		return {"status_code": response.status_code, "body": content.decode("utf-8", "replace")}
	raise StepError(
		_("{0} {1}: more than {2} redirects").format(method, redact_url(url), MAX_REDIRECTS), retryable=False
	)
