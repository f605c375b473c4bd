"""Where the `kaggle` package (2.x) will find credentials, looked up before anything is written or
Kaggle is contacted, so that having none is one clear line instead of the package's help text
and exit.

Only *where* they are is ever returned or printed, never a value: the places are the ones
`KaggleApi.authenticate` tries, in its order (an access token, then the legacy username and key,
then `kaggle auth login`'s OAuth file).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ganime_core.errors import GanimeError

SETTINGS_PAGE = "https://www.kaggle.com/settings/api"
TOKEN_ENV = "KAGGLE_API_TOKEN"  # the token itself, or the path of a file holding it
USERNAME_ENV = "KAGGLE_USERNAME"
KEY_ENV = "KAGGLE_KEY"
CONFIG_DIR_ENV = "KAGGLE_CONFIG_DIR"
LEGACY_FILE = "kaggle.json"
# Shorter values are not redacted: they would mangle ordinary words and cannot be real keys.
MIN_SECRET_CHARS = 8


def find_kaggle_credentials(environ: Mapping[str, str] | None = None) -> str | None:
    """Where the kaggle package will find credentials (e.g. '$KAGGLE_API_TOKEN'), or None.

    Presence only: whether Kaggle accepts them is known once the client authenticates."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    return _access_token(environ, home) or _legacy_key(environ, home) or _oauth_login(home)


def require_kaggle_credentials(environ: Mapping[str, str] | None = None) -> str:
    """Where the credentials are; GanimeError in one line saying where to put them if none."""
    source = find_kaggle_credentials(environ)
    if source is None:
        raise GanimeError(missing_credentials_message(environ))
    return source


def missing_credentials_message(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    legacy = legacy_config_dir(environ, home) / LEGACY_FILE
    return (
        f"no Kaggle credentials found: create an API token at {SETTINGS_PAGE} and put it in "
        f"${TOKEN_ENV} or {home / '.kaggle' / 'access_token'} (chmod 600), or put a legacy "
        f"key in {legacy} or ${USERNAME_ENV} and ${KEY_ENV}"
    )


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` (an error from the kaggle package) with every credential value it might quote
    replaced by ***, so no message GANime prints can carry one."""
    for secret in _secret_values(environ):
        text = text.replace(secret, "***")
    return text


def _secret_values(environ: Mapping[str, str] | None) -> set[str]:
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    values = {environ.get(TOKEN_ENV, ""), environ.get(KEY_ENV, "")}
    for name in ("access_token", "access_token.txt"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            values.add((home / ".kaggle" / name).read_text().strip())
    values.add(str(_json_object(legacy_config_dir(environ, home) / LEGACY_FILE).get("key", "")))
    return {value for value in values if len(value) >= MIN_SECRET_CHARS}


def legacy_config_dir(environ: Mapping[str, str], home: Path) -> Path:
    """Where kaggle.json is read: $KAGGLE_CONFIG_DIR, ~/.kaggle, or (Linux, when ~/.kaggle does
    not exist) $XDG_CONFIG_HOME/kaggle."""
    if environ.get(CONFIG_DIR_ENV):
        return Path(environ[CONFIG_DIR_ENV])
    dot_kaggle = home / ".kaggle"
    if sys.platform.startswith("linux") and not dot_kaggle.exists():
        return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return dot_kaggle


def _access_token(environ: Mapping[str, str], home: Path) -> str | None:
    if environ.get(TOKEN_ENV):
        # The package reads the variable as a file path when such a file exists.
        return f"${TOKEN_ENV}"
    for name in ("access_token", "access_token.txt"):
        path = home / ".kaggle" / name
        if _non_empty_file(path):
            return str(path)
    return None


def _legacy_key(environ: Mapping[str, str], home: Path) -> str | None:
    """The package merges kaggle.json with $KAGGLE_* variables (the variables win), and needs a
    username and a key from either."""
    path = legacy_config_dir(environ, home) / LEGACY_FILE
    from_file = _json_object(path)
    username = environ.get(USERNAME_ENV) or from_file.get("username")
    key = environ.get(KEY_ENV) or from_file.get("key")
    if not (username and key):
        return None
    places = [f"${name}" for name in (USERNAME_ENV, KEY_ENV) if environ.get(name)]
    if len(places) < 2:
        places.append(str(path))
    return " and ".join(places)


def _oauth_login(home: Path) -> str | None:
    path = home / ".kaggle" / "credentials.json"
    return f"{path} (kaggle auth login)" if _json_object(path).get("refresh_token") else None


def _non_empty_file(path: Path) -> bool:
    try:
        return bool(path.read_text().strip())
    except (OSError, UnicodeDecodeError):
        return False


def _json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
