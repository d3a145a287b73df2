"""`python3 -m unittest`: the module as plain Python (the SDK's `extension` module is only in
the component, so a stand-in `kind` decorator is installed first)."""

import json
import pathlib
import sys
import types
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.modules.setdefault("extension", types.SimpleNamespace(kind=lambda _name: (lambda f: f)))

import functions  # noqa: E402


class PreMapUpper(unittest.TestCase):
    def test_answers_the_expected_results(self):
        options = json.loads((HERE / "test" / "options.json").read_text())
        expected = json.loads((HERE / "test" / "expected.json").read_text())
        self.assertEqual(functions.hooks["preMapUpper"](options), expected)


if __name__ == "__main__":
    unittest.main()
