"""The WebSocket tests of :mod:`tests.test_engineio_websocket` again, with the
upgrade requests read by :class:`~txsocketio.http.SocketIOSite`'s direct path
(the bytes handed to Autobahn as they came, see
:meth:`txsocketio.httpdirect.DirectRequest.hand_over`) instead of going
through twisted.web and Autobahn's ``WebSocketResource``: the two ways in must
behave alike.  (``PlainFrameTests`` makes no connection: not repeated.)"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests import test_engineio_websocket as base
from tests.engineio_support import Harness
from txsocketio.httpdirect import DirectRequest


def _direct(cls: type[SynchronousTestCase]) -> type[SynchronousTestCase]:
    """``cls`` with its harness's site on the direct path."""
    return type(cls.__name__, (cls,), {"direct_path": True, "__module__": __name__,
                                       "__doc__": f"{cls.__doc__ or cls.__name__} (direct path)"})


UpgradeTests = _direct(base.UpgradeTests)
WebSocketTests = _direct(base.WebSocketTests)
FirstFrameTests = _direct(base.FirstFrameTests)
BurstTests = _direct(base.BurstTests)
PartialWriteTests = _direct(base.PartialWriteTests)
StalledReaderTests = _direct(base.StalledReaderTests)
AutobahnSeamTests = _direct(base.AutobahnSeamTests)
FramePathTests = _direct(base.FramePathTests)


class HandOverTests(SynchronousTestCase):
    """The mirrored tests do take the direct path."""

    direct_path = True

    def test_upgrade_is_handed_over(self) -> None:
        """A WebSocket-only session opens with its upgrade read directly: no
        twisted.web ``Request``, the resource sees a ``DirectRequest``."""
        harness = Harness(self)
        seen: list[Any] = []
        render = harness.resource.render

        def spy(request: Any) -> Any:
            seen.append(type(request))
            return render(request)

        harness.resource.render = spy  # type: ignore[method-assign]
        ws = harness.websocket("EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        self.assertEqual(seen, [DirectRequest])
        self.assertTrue(ws.received()[0].startswith("0{"))
