"""The admin API is a face: the command that builds a runtime serves it from the same process.

`voiceconsole control` and `voiceconsole drill` reach the running console or server through it.
The runtime does not know it (it sits below the faces); it starts what is attached at the end
of start-up and stops it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.admin.server import AdminServer, admin_file_path

if TYPE_CHECKING:  # the command that calls this has built the runtime already
    from console.runtime import Runtime


def serve_admin(runtime: Runtime) -> AdminServer:
    """The admin API for `runtime`, attached so it starts and stops with it."""
    token = runtime.settings.server.admin_token
    admin = AdminServer(runtime.control, token.get_secret_value() if token else None,
                        admin_file=admin_file_path(runtime.settings),
                        events=runtime.bus.subscribe, info=runtime.media_info)
    runtime.attach(admin)
    return admin
