"""Paths and values shared by cookbooks and Spicerack modules, as the production hosts have them."""

PUPPET_CA_PATH: str = "/etc/ssl/certs/Puppet_Internal_CA.pem"
"""The certificate of the Puppet CA, to verify the TLS certificates of internal services."""

WMF_CA_BUNDLE_PATH: str = "/etc/ssl/certs/wmf-ca-certificates.crt"
"""The bundle of the internal certificate authorities (Puppet's and the PKI's)."""

KEYHOLDER_SOCK: str = "/run/keyholder/proxy.sock"
"""The socket of the keyholder SSH agent proxy, for SSH connections to the fleet from the cumin hosts."""
