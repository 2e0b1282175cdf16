"""What plain CPython can check of `kernels`: its configuration. The kernels
themselves are compared with pyarrow.compute by tests/clients/kernels.py."""

import unittest

from quiver_sdk import PluginError

from kernels import plugin


class KernelsTest(unittest.TestCase):
    def test_reads_the_columns_its_calls_name(self):
        transform = plugin.find("kernels").open({"calls": '[["u", "utf8_upper", [{"col": "s"}]], ["n", "add", [{"col": "i"}, 1]]]'})
        self.assertEqual(transform.select.reads, ["s", "i"])

    def test_a_malformed_configuration_is_refused(self):
        with self.assertRaisesRegex(PluginError, "`calls` is not a list"):
            plugin.find("kernels").open({"calls": '{"u": 1}'})


if __name__ == "__main__":
    unittest.main()
