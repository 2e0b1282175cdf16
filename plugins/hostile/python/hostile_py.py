"""`hostile-py`: the hostile plugin again, in Python, to prove the sandbox
holds whatever language a plugin is written in.

Every transform passes its input through unchanged until it attacks. With
the `poison` config key set, it attacks only batches whose first column (an
int64 `x`) holds that value; otherwise it attacks every call.
"""

import os
import socket

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

ATTACKS = {
    "spin": "loops forever in `process`",
    "grow": "allocates memory without end",
    "recurse": "recurses without end",
    "raise": "raises an exception it does not catch",
    "probe": "tries a capability (`what` = file, env, socket; `target`) and fails with what happened unless it worked",
    "log-flood": "logs a million messages",
}


# componentize-py may make a new `Transform` for each call: state lives here.
STATE = {"attack": None, "config": {}}


def _error(kind, message):
    return Err(types.Error(kind=kind, message=message))


class Transform(exports.Transform):
    @property
    def attack(self):
        return STATE["attack"]

    @property
    def config(self):
        return STATE["config"]

    def describe(self):
        keys = [
            types.ConfigKey(name="poison", description="attack only batches whose column x holds this value",
                            required=False, default_value=None),
            types.ConfigKey(name="what", description="probe: the capability", required=False, default_value=None),
            types.ConfigKey(name="target", description="probe: the path, variable or address",
                            required=False, default_value=None),
        ]
        return types.PluginInfo(
            name="hostile-py",
            version="0.1.0",
            description="Attacks its host, in Python (sandbox tests)",
            transforms=[
                types.TransformInfo(name=name, kind=types.TransformKind.MAP, description=text, config_keys=keys)
                for name, text in ATTACKS.items()
            ],
        )

    def open(self, transform, config):
        if transform not in ATTACKS:
            raise _error(types.ErrorKind.INVALID_CONFIG, f"no transform `{transform}`")
        STATE["attack"] = transform
        STATE["config"] = dict(config)

    def bind(self, input_schema):
        # Every attack keeps the input schema: echo it.
        return input_schema

    def process(self, num_rows, nodes, buffers):
        if self._attacks(nodes, buffers):
            getattr(self, "_" + self.attack.replace("-", "_"))()
        return types.Output(batch=types.Batch(num_rows=num_rows, nodes=nodes, buffers=buffers),
                            rejections=[], origin=None)

    def process_ipc(self, ipc):
        raise _error(types.ErrorKind.INVALID_CALL, "hostile-py takes batches, not IPC")

    def finish(self):
        return None

    def _attacks(self, nodes, buffers):
        poison = self.config.get("poison")
        if poison is None:
            return True
        x = nodes[0]
        values = memoryview(buffers[1]).cast("q")[x.offset:x.offset + x.length]
        return int(poison) in values

    def _spin(self):
        n = 0
        while True:
            n += 1

    def _grow(self):
        hoard = []
        while True:
            hoard.append(bytearray(b"\x01" * (1 << 20)))

    def _recurse(self, depth=0):
        return self._recurse(depth + 1) + 1

    def _raise(self):
        raise ValueError("hostile-py: poison value in column x")

    def _log_flood(self):
        for i in range(1_000_000):
            host.log(host.Level.INFO, f"flood {i}")

    def _probe(self):
        what, target = self.config.get("what", ""), self.config.get("target", "")
        try:
            if what == "file":
                with open(target) as f:
                    result = f.read(200)
            elif what == "env":
                result = os.environ[target]
            elif what == "socket":
                address, port = target.rsplit(":", 1)
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.connect((address, int(port)))
                    result = f"connected to {s.getpeername()}"
            else:
                raise ValueError(f"unknown probe `{what}`")
        except Exception as e:  # noqa: BLE001 - the point is to report whatever the sandbox said
            raise _error(types.ErrorKind.FAILED, f"denied: {what} {target}: {type(e).__name__}: {e}")
        raise _error(types.ErrorKind.FAILED, f"ok: {what} {target}: {result}")
