"""A chat bot's message handler: every chat user has their own Backendless session.

    python examples/bot_handler.py

No bot framework here: :class:`ProfileBot.handle` takes a :class:`Message` and returns the
reply text, so it drops into discord.py, aiogram or python-telegram-bot as the body of their
message callback (``await bot.handle(Message(update.effective_user.id, update.message.text))``).

One :class:`~backendless_aio.Backendless` app (one connection pool) serves every chat user.
Each user gets a scope, ``app.users.session(key=f"chat:{user_id}")``, with their own token; a
login with ``stay_logged_in=True`` saves the token in the app's session store, and after a
restart ``restore()`` resumes it without asking for the password again. When Backendless ends
a session, the scope drops it, the store forgets it and a ``SessionExpired`` event names the
chat to tell.

Run as a script it starts the embedded emulator and plays a conversation: two chat users, a bot
restart (a file session store), and an expired session.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs

from backendless_aio import (
    AsyncUserService,
    Backendless,
    BackendlessFault,
    FileSessionStore,
    InvalidLogin,
    SessionExpired,
    SessionOver,
    SessionStore,
)

__all__ = ["HELP", "Message", "ProfileBot", "main"]

HELP = ("Commands: /login EMAIL PASSWORD, /set PROPERTY VALUE, /whoami, /logout. "
        "Your password is used once; the bot keeps only a session token.")
#: Profile properties a chat user may change (never objectId, email, password...).
EDITABLE = frozenset({"name", "city", "phoneNumber", "bio"})


@attrs.frozen
class Message:
    """What the framework hands over: who wrote, and what."""

    user_id: int
    text: str


class ProfileBot:
    """Answers chat messages; ``handle`` is safe to run for many users at once."""

    def __init__(self, app: Backendless) -> None:
        self.app = app
        self._scopes: dict[int, AsyncUserService] = {}
        #: Notices for users whose session the server ended (chat id, text); a real bot sends
        #: them with its framework's send_message.
        self.outbox: list[tuple[int, str]] = []
        app.on(SessionExpired, self._session_expired)

    async def scope(self, user_id: int) -> AsyncUserService:
        """This chat user's scope; on first sight, resumed from the session store if it can be.

        Scopes are cheap (a token and a user): a long-running bot may drop idle ones (an LRU)
        and the next message restores them from the store.
        """
        scope = self._scopes.get(user_id)
        if scope is None:
            scope = self._scopes[user_id] = self.app.users.session(key=f"chat:{user_id}")
            await scope.restore()  # nothing is sent; the first call checks the token
        return scope

    async def handle(self, message: Message) -> str:
        command, _, rest = message.text.strip().partition(" ")
        scope = await self.scope(message.user_id)
        try:
            if command == "/login":
                email, _, password = rest.strip().partition(" ")
                me = await scope.login(email, password.strip(), stay_logged_in=True)
                return f"Hello {me.name or me.email}, you are logged in."
            if not scope.is_logged_in:
                return "Please log in first: /login EMAIL PASSWORD"
            if command == "/set":
                prop, _, value = rest.strip().partition(" ")
                if prop not in EDITABLE:
                    return f"You can set: {', '.join(sorted(EDITABLE))}."
                user = await scope.get_current_user()  # loaded once, shared by concurrent calls
                if user is None:
                    return "Please log in first: /login EMAIL PASSWORD"
                user.set_property(prop, value.strip())
                await scope.update(user)  # this user's token, whoever else is busy
                return f"Saved: {prop} = {user.get_property(prop)}"
            if command == "/whoami":
                current = await scope.get_current_user()
                if current is None:
                    return "Please log in first: /login EMAIL PASSWORD"
                details = ", ".join(f"{p}={current.get_property(p)}" for p in sorted(EDITABLE)
                                    if current.get_property(p) is not None)
                return f"You are {current.email}" + (f" ({details})" if details else "")
            if command == "/logout":
                await scope.logout()
                return "Logged out."
            return HELP
        except SessionOver:
            return "Your session has expired. Please /login again."
        except InvalidLogin:
            return "Wrong email or password."
        except BackendlessFault as fault:
            return f"Backendless said no: {fault.message}"

    def _session_expired(self, event: SessionExpired) -> None:
        key = event.session_key or ""
        if key.startswith("chat:"):
            self.outbox.append((int(key[len("chat:"):]), "Your session has expired."))


# -- the script: a conversation against the embedded emulator -------------------------------------

async def conversation(url: str, app_id: str, api_key: str, store: SessionStore,
                       advance_clock: Callable[[float], None] | None = None) -> list[str]:
    """Two chat users, one app, a restart, and (given the emulator's clock) an expiry; returns
    the transcript."""
    transcript: list[str] = []

    async def say(bot: ProfileBot, user_id: int, text: str) -> str:
        reply = await bot.handle(Message(user_id, text))
        shown = text if not text.startswith("/login") else " ".join(text.split()[:2]) + " ***"
        transcript.append(f"[{user_id}] {shown}\n      -> {reply}")
        return reply

    async with Backendless(app_id=app_id, api_key=api_key, server_url=url,
                           session_store=store) as app:
        for email, name in (("ann@example.com", "Ann"), ("ben@example.com", "Ben")):
            await app.users.register({"email": email, "password": "pw-ann-ben-1", "name": name})
        bot = ProfileBot(app)
        await say(bot, 1, "/whoami")
        await asyncio.gather(say(bot, 1, "/login ann@example.com pw-ann-ben-1"),
                             say(bot, 2, "/login ben@example.com pw-ann-ben-1"))
        await asyncio.gather(say(bot, 1, "/set city Oslo"), say(bot, 2, "/set city Lima"))

    transcript.append("--- the bot restarts: a new app, the same session store ---")
    async with Backendless(app_id=app_id, api_key=api_key, server_url=url,
                           session_store=store) as app:
        bot = ProfileBot(app)
        await say(bot, 1, "/whoami")  # no password asked: restored from the store
        await say(bot, 2, "/set phoneNumber 555-0100")
        if advance_clock is not None:
            transcript.append("--- an hour and a second without activity ---")
            advance_clock(3601)
            await say(bot, 1, "/set city Bergen")
            transcript.extend(f"[{chat}] (notice) {text}" for chat, text in bot.outbox)
            await say(bot, 1, "/whoami")
    return transcript


async def main() -> int:
    from backendless_aio.emulator import Emulator, EmulatorSettings

    with tempfile.TemporaryDirectory() as folder:
        store = FileSessionStore(Path(folder) / "sessions.json")
        async with Emulator(EmulatorSettings(fast_password_hashing=True)) as emulator:
            lines = await conversation(emulator.url, emulator.app_id, emulator.api_key, store,
                                       emulator.advance_clock)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
