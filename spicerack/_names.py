"""Names shared by the package's layers: the loggers of the IRC and SAL announcements.

A bottom module, so that the logging set-up does not import the package's accessor; ``spicerack`` re-exports
them where the reference has them (``spicerack.irc_logger_name``, ``spicerack.sal_logger_name``).
"""

irc_logger_name = "spicerack_irc_announce"
"""The logger whose records are announced on IRC."""
sal_logger_name = "spicerack_sal_announce"
"""The logger whose records go to the Server Admin Log (SAL)."""
