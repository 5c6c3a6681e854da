"""Fixtures of the integration tests: real servers on loopback, one module each under ``servers/``.

Each server module defines session-scoped fixtures; they are imported here so that every test can use them.
"""

from tests.integration.fleet_tools import fake_icinga, icinga_env, puppet_env, puppet_tools  # noqa: F401
from tests.integration.servers.alertmanager import *  # noqa: F403
from tests.integration.servers.authdns import *  # noqa: F403
from tests.integration.servers.dns import *  # noqa: F403
from tests.integration.servers.elasticsearch import *  # noqa: F403
from tests.integration.servers.etcd import *  # noqa: F403
from tests.integration.servers.etcd_v2 import *  # noqa: F403
from tests.integration.servers.ganeti import *  # noqa: F403
from tests.integration.servers.http import *  # noqa: F403
from tests.integration.servers.https import *  # noqa: F403
from tests.integration.servers.ipmi import *  # noqa: F403
from tests.integration.servers.kafka import *  # noqa: F403
from tests.integration.servers.kubernetes import *  # noqa: F403
from tests.integration.servers.mariadb import *  # noqa: F403
from tests.integration.servers.netbox import *  # noqa: F403
from tests.integration.servers.ngircd import *  # noqa: F403
from tests.integration.servers.orchestrator import *  # noqa: F403
from tests.integration.servers.prometheus import *  # noqa: F403
from tests.integration.servers.redfish import *  # noqa: F403
from tests.integration.servers.redis import *  # noqa: F403
from tests.integration.servers.sshd import *  # noqa: F403
from tests.integration.servers.tcpircbot import *  # noqa: F403
