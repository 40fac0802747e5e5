"""What the app asks of every console screen in the stack (all optional, all cheap)."""

from __future__ import annotations

from console.tui.backend import BackendStatus


class BoardView:
    """Mixed into screens. The app calls these on every screen in the stack, so a screen hidden
    under another is current the moment it shows again."""

    def selected_call(self) -> str | None:
        """The live call the operator keys act on here, if any."""
        return None

    def refresh_board(self, changed: frozenset[str]) -> None:
        """Re-read the board; `changed` names the calls that changed (empty: the clock ticked)."""

    def refresh_status(self, status: BackendStatus) -> None:
        """New runtime status for any status bar on this screen."""
