"""`modelyard users set-password` (typed at a real terminal, never echoed) and `tokens list`,
against a server with --auth."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import termios
import time
import uuid
from datetime import UTC, datetime

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.cli import run_cli
from tests.support.server import MODELYARD

SCIM = "/api/2.0/preview/scim/v2"


class Terminal:
    """`modelyard …` with a pseudo-terminal as its controlling terminal, as when a person
    types: getpass reads the password from it with echo off."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.master, follower = pty.openpty()

        def take_terminal() -> None:  # in the child, after setsid: this pty is its terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            [MODELYARD, *args], stdin=follower, stdout=follower, stderr=follower,
            env={"PATH": os.environ.get("PATH", "/usr/bin"), **env}, start_new_session=True,
            preexec_fn=take_terminal)
        os.close(follower)
        self.seen = b""
        self.matched = 0

    def expect(self, text: str, timeout: float = 20.0) -> None:
        """Wait until `text` appears after what the previous expect matched."""
        wanted, deadline = text.encode(), time.monotonic() + timeout
        while (found := self.seen.find(wanted, self.matched)) < 0:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.seen!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the program ended and closed the terminal
                    raise AssertionError(f"ended before {text!r}: {self.seen!r}") from None
        self.matched = found + len(wanted)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self) -> int:
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running; the terminal shows {self.seen!r}") from None
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return code


def test_set_password_is_asked_twice_and_never_echoed(auth_server: AuthServer) -> None:
    user = auth_server.new_user("pw")
    password = f"Correct-horse-{uuid.uuid4().hex[:12]}"
    auth_server.secrets.append(password)
    terminal = Terminal("users", "set-password", user.name, "--url", auth_server.url,
                        env={"MODELYARD_TOKEN": auth_server.admin_token})
    terminal.expect(f"New password for {user.name}:")
    terminal.type(password)
    terminal.expect("Repeat for confirmation:")
    terminal.type(password + "-typo")  # the two differ: asked again, nothing sent
    terminal.expect(f"New password for {user.name}:")
    terminal.type(password)
    terminal.expect("Repeat for confirmation:")
    terminal.type(password)
    assert terminal.finish() == 0, terminal.seen
    shown = terminal.seen.decode(errors="replace")
    assert "do not match" in shown and f"password set for {user.name}" in shown
    assert password not in shown, "the password was echoed"

    me = http_clients.get(auth_server.url + f"{SCIM}/Me", auth=(user.name, password))
    assert me.status_code == 200 and me.json()["userName"] == user.name


def test_set_password_shows_the_servers_refusal(auth_server: AuthServer) -> None:
    user, other = auth_server.new_user("pw"), auth_server.new_user("pw")
    terminal = Terminal("users", "set-password", other.name, "--url", auth_server.url,
                        env={"MODELYARD_TOKEN": user.token})
    terminal.expect("New password")
    terminal.type("an-ordinary-users-guess")
    terminal.expect("Repeat for confirmation:")
    terminal.type("an-ordinary-users-guess")
    assert terminal.finish() == 1
    assert "PERMISSION_DENIED" in terminal.seen.decode(errors="replace")

    unknown = run_cli("users", "set-password", "nobody@example.com", url=auth_server.url,
                      token=auth_server.admin_token, ok=False)
    assert "'nobody@example.com' not found" in unknown.stderr


def test_tokens_list_shows_dates_and_never(auth_server: AuthServer) -> None:
    user = auth_server.new_user("tokens")
    expiring = run_cli("tokens", "create", "--lifetime-days", "2", "--comment", "two-days",
                       url=auth_server.url, token=user.token).stdout.strip()
    auth_server.secrets.append(expiring)
    listed = run_cli("tokens", "list", url=auth_server.url, token=user.token).stdout
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = {line.split()[1] if len(line.split()) > 1 else "": line
             for line in listed.splitlines()}
    assert re.search(rf"{today} \d\d:\d\d UTC", lines["two-days"])
    assert not lines["two-days"].rstrip().endswith("never")
    never = [line for line in listed.splitlines() if line.rstrip().endswith("never")]
    assert never, listed  # the user's first token (made by the test helper) has no expiry
    assert not re.search(r"\s-1\s*$", listed, re.MULTILINE)  # no raw "no expiry" value


def test_token_is_taken_before_or_after_the_subcommand(auth_server: AuthServer) -> None:
    admin = auth_server.admin_token
    for args in (["--token", admin, "users", "list"], ["users", "--token", admin, "list"],
                 ["users", "list", "--token", admin]):
        assert "admin" in run_cli(*args, url=auth_server.url).stdout, args
    refused = run_cli("users", "list", url=auth_server.url, ok=False)
    assert "UNAUTHENTICATED" in refused.stderr
