"""Writes the demo wheelhouse's stand-ins for the AWS SDK the Lambda runtime bundles.

smoke imports handlers with the runtime's boto3 and botocore (1.38.36 on python3.13, the
`[smoke] runtime_packages` default), installed from this wheelhouse. The real wheels are
~14 MB; these are a few hundred bytes and only need to import: the demo calls boto3 inside
its handlers, never at import time, and nothing here is ever shipped (the runtime provides
the real SDK in AWS). Reproducible: fixed timestamps, sorted entries.

    python3 demo/wheelhouse/make_stand_ins.py   # from the repo root
"""

import base64
import hashlib
import os
import zipfile

VERSION = "1.38.36"
HERE = os.path.dirname(os.path.abspath(__file__))
NOTE = (
    '"""Stand-in for {name} {version} from the xtask demo\'s wheelhouse: it imports, and '
    'nothing more.\n\nThe Lambda runtime provides the real one; see '
    'demo/wheelhouse/make_stand_ins.py."""\n\n__version__ = "{version}"\n'
)
BOTO3 = NOTE + '''

def _stand_in(*args, **kwargs):
    raise RuntimeError("boto3 stand-in from the demo wheelhouse: the Lambda runtime has the real SDK")


client = resource = _stand_in


class Session:
    def __init__(self, *args, **kwargs):
        pass

    client = resource = staticmethod(_stand_in)
'''
BOTOCORE_EXCEPTIONS = '''"""The exception names handlers catch."""


class BotoCoreError(Exception):
    pass


class ClientError(Exception):
    def __init__(self, error_response=None, operation_name=None):
        super().__init__(error_response, operation_name)
        self.response = error_response or {}
        self.operation_name = operation_name
'''

PACKAGES = {
    "boto3": ({"boto3/__init__.py": BOTO3}, ["botocore==" + VERSION]),
    "botocore": (
        {"botocore/__init__.py": NOTE, "botocore/exceptions.py": BOTOCORE_EXCEPTIONS},
        [],
    ),
}


def wheel(name, files, requires):
    dist = f"{name}-{VERSION}.dist-info"
    entries = {
        path: text.replace("{name}", name).replace("{version}", VERSION)
        for path, text in files.items()
    }
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\n"
    meta += "Summary: demo stand-in; the Lambda runtime provides the real package\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    entries[f"{dist}/METADATA"] = meta
    entries[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: make_stand_ins.py\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    entries[f"{dist}/top_level.txt"] = f"{name}\n"
    record = ""
    for path, text in sorted(entries.items()):
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record += f"{path},sha256={b64},{len(text.encode())}\n"
    entries[f"{dist}/RECORD"] = record + f"{dist}/RECORD,,\n"
    out = os.path.join(HERE, f"{name}-{VERSION}-py3-none-any.whl")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(entries, key=lambda p: (".dist-info/" in p, p)):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, entries[path])
    print(out)


for name, (files, requires) in PACKAGES.items():
    wheel(name, files, requires)
