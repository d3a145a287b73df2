"""The benchmark workload in Python (same semantics as plugins/bench and
benchmarks/node/functions.js)."""


def pre_map_upper(options):
    out = []
    for record in options["data"]:
        record = dict(record)
        if isinstance(record.get("name"), str):
            record["name"] = record["name"].upper()
        record["processed"] = True
        out.append({"data": record})
    return out


def echo(options):
    return options["data"]


def post_submit_ids(options):
    responses = options["responseData"]
    for response in responses:
        if isinstance(response.get("id"), str):
            response["id"] = "ok-" + response["id"]
    return responses


hooks = {"preMapUpper": pre_map_upper, "echo": echo, "postSubmitIds": post_submit_ids}
