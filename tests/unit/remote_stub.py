"""A stand-in for spicerack.remote.RemoteHosts in unit tests: records the commands, answers canned outputs."""

from ClusterShell.MsgTree import MsgTreeElem
from cumin import NodeSet


def output(text):
    """Return a ClusterShell message tree element holding the given (maybe multi-line) text."""
    element = MsgTreeElem()
    for line in text.splitlines() or [""]:
        element = element.append(line.encode())
    return element


class StubRemoteHosts:
    """Answers each run_sync call with the next canned output (a string, an exception to raise, or None)."""

    def __init__(self, hosts="host1001", outputs=(), *, dry_run=False):
        self._hosts = NodeSet(hosts)
        self._dry_run = dry_run
        self.outputs = list(outputs)
        self.calls = []

    @property
    def hosts(self):
        return self._hosts.copy()

    def __len__(self):
        return len(self._hosts)

    def __str__(self):
        return str(self._hosts)

    def get_subset(self, subset):
        """A stub of some of the hosts, answering from (and recording into) this stub's outputs and calls."""
        assert self._hosts.issuperset(subset), f"{subset} is not a subset of {self._hosts}"
        stub = StubRemoteHosts(subset, dry_run=self._dry_run)
        stub.outputs = self.outputs
        stub.calls = self.calls
        return stub

    def run_sync(self, *commands, **kwargs):
        self.calls.append(([str(command) for command in commands], kwargs))
        answer = self.outputs.pop(0) if self.outputs else None
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return iter(())
        if isinstance(answer, dict):  # per-host outputs
            return iter([(NodeSet(host), output(text)) for host, text in answer.items()])
        return iter([(self._hosts, output(answer))])

    @property
    def commands(self):
        return [command for commands, _ in self.calls for command in commands]
