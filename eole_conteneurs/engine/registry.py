"""The digest a registry gives for a tag, asked of the registry itself (Distribution API v2).

Podman's Docker-compatible API has no /distribution endpoint: to tell whether a local image is
the registry's (no pull on a no-op run) and whether an update exists, the module asks the
registry directly, as `skopeo inspect` would. A HEAD on the manifest answers with its digest in
Docker-Content-Digest; an anonymous bearer token is fetched when the registry asks for one.
As Docker does, a registry on the loopback is spoken to in plain HTTP, any other through TLS
with the system's certificate authorities.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import urllib.parse

from eole_conteneurs.engine.reference import Reference

MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
))
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class RegistryError(OSError):
    """The registry did not give a digest (unreachable, refused, unknown tag)."""


def manifest_digest(ref: str, timeout: float) -> str:
    """The digest of ref's manifest on its registry now; RegistryError otherwise."""
    reference = Reference.parse(ref)
    path = f"/v2/{reference.repository}/manifests/{urllib.parse.quote(reference.tag, safe='')}"
    headers = {"Accept": MANIFEST_TYPES}
    tls = not reference.plain_http
    status, answer, _ = _request(reference.host, tls, "HEAD", path, headers, timeout)
    if status == 401 and answer.get("www-authenticate", "").lower().startswith("bearer "):
        headers["Authorization"] = f"Bearer {_token(answer['www-authenticate'], timeout)}"
        status, answer, _ = _request(reference.host, tls, "HEAD", path, headers, timeout)
    if status != 200:
        raise RegistryError(f"{reference.host} : HTTP {status} pour {reference.repository}:{reference.tag}")
    digest = answer.get("docker-content-digest", "")
    if not DIGEST.fullmatch(digest):
        raise RegistryError(f"{reference.host} : pas d'empreinte dans la réponse du registre")
    return digest


def _request(host: str, tls: bool, method: str, path: str, headers: dict[str, str],
             timeout: float) -> tuple[int, dict[str, str], bytes]:
    connection: http.client.HTTPConnection | None = None
    try:
        if tls:
            connection = http.client.HTTPSConnection(host, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(host, timeout=timeout)
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, body
    except (OSError, ValueError, http.client.HTTPException) as error:  # ValueError: an address it cannot read
        raise RegistryError(f"{host} : {error or error.__class__.__name__}") from error
    finally:
        if connection is not None:
            connection.close()


def _token(challenge: str, timeout: float) -> str:
    """An anonymous token from the realm the registry named (pulling public images needs no account)."""
    fields = dict(CHALLENGE.findall(challenge))
    realm = urllib.parse.urlsplit(fields.get("realm", ""))
    if realm.scheme not in ("http", "https") or not realm.hostname:
        raise RegistryError(f"authentification du registre non prise en charge ({challenge})")
    query = urllib.parse.urlencode({key: fields[key] for key in ("service", "scope") if key in fields})
    path = (realm.path or "/") + ("?" + query if query else "")
    status, _, body = _request(realm.netloc, realm.scheme == "https", "GET", path, {}, timeout)
    try:
        answer = json.loads(body)
        token = answer.get("token") or answer.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if status != 200 or not isinstance(token, str) or not token:
        raise RegistryError(f"{realm.netloc} : jeton refusé (HTTP {status})")
    return token
