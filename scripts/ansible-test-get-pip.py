"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap its venvs.

The test platform reaches PyPI but not ci-files.testing.ansible.com, where
ansible-test fetches get-pip.py. get-pip.py is `pip install` with a bundled pip;
this does the same with the pip that Python itself bundles (ensurepip), then installs
the requested packages from the configured index. scripts/sanity.sh puts it where
ansible-test looks for its cached copy.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap()
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
# ansible-test runs this with a filtered environment: keep trusting the system CA
# bundle, which the machine's own pip settings (PIP_CERT) point at.
system_ca = "/etc/ssl/certs/ca-certificates.crt"
if "PIP_CERT" not in os.environ and os.path.exists(system_ca):
    args = ["--cert", system_ca, *args]
raise SystemExit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
