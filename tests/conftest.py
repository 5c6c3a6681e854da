"""Settings of the whole suite: the processes the tests start don't depend on how the suite itself was started."""

import signal

# Ignored and blocked signals are inherited through fork and exec: under nohup, in a background job of a
# non-interactive shell or in a CI runner, the cookbook processes and servers the tests start would ignore the
# signals that the tests send them.
_RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def pytest_configure(config: object) -> None:
    """Give the signals the tests send their default dispositions here, hence in every process started."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _RESET_SIGNALS)
    for signum in _RESET_SIGNALS:
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
