"""An integrator.io extension module in Python.

Build: `extension-host build . -o plugin.wasm`; test: `python3 -m unittest` (plain Python)
and `./test.sh` (the built component, in the sandbox).
"""

from extension import kind


@kind("preMap")
def pre_map_upper(options):
    """preMap: each record's `name` in capitals, one result per record."""
    results = []
    for record in options["data"]:
        out = dict(record)
        if isinstance(out.get("name"), str):
            out["name"] = out["name"].upper()
        results.append({"data": out})
    return results


hooks = {"preMapUpper": pre_map_upper}
