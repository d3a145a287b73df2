"""A DIY extension module in Python: the same preMap phone normalisation as
plugins/diy-example and plugins-js/diy-example, plus functions that exercise the SDK's
semantics (async functions, errors, dates, non-serialisable results, a runaway loop)."""

from extension import ExtensionError, kind, log
from phone import normalise_phone


@kind("preMap")
def pre_map_phones(options):
    results = []
    for record in options["data"]:
        if "phone" not in record:
            results.append({"data": record})
            continue
        phone = normalise_phone(record["phone"])
        if phone is None:
            message = f"'{record['phone']}' is not a phone number"
            results.append({"errors": [{"code": "invalid_phone", "message": message, "source": "preMapPhones"}]})
        else:
            results.append({"data": {**record, "phone": phone}})
    return results


async def post_submit_enrich(options):
    for i, response in enumerate(options["responseData"]):
        pre_map = options.get("preMapData", [])
        source = pre_map[i].get("id") if i < len(pre_map) else None
        for error in response.get("errors", []):
            error["message"] += f' (source record "{source}")'
    return options["responseData"]


def delta(options):
    log("info", "delta export window", options["lastExportDateTime"].isoformat())
    last = options["lastExportDateTime"]
    return {
        "lastIsDate": hasattr(last, "isoformat"),
        "last": last.isoformat(),
        "year": options["currentExportDateTime"].year,
    }


def fail_with_code(options):
    raise ExtensionError("vendor_rejected", "The vendor API rejected the page.")


def fail_with_number(options):
    raise ExtensionError(5, "Vendor error five.")


def fail_with_name(options):
    return options["missing"]


def give_up(options):
    import sys

    sys.exit("no records to process")


def not_serializable(options):
    return {"when": options.get("lastExportDateTime") or object()}


def spin(options):
    while True:
        pass


@kind("preMap")
def pre_map_drops_one(options):
    return [{"data": record} for record in options["data"][1:]]


def persist_settings(options):
    return {"success": True, "saved": len(options.get("pending") or {})}


def version(options):
    """A function at the module root (listed in __all__): requests without `type` reach it."""
    return {"version": "1.4.2", "caller": options.get("caller")}


@kind("responseScript")
def session_check(options):
    """A response script: what a connector's response means (see plugins/diy-example)."""
    status, body = options["response"]["status"], options["response"]["body"]
    if status == 401:
        return {"responseCode": 4, "message": "session expired"}
    if 200 <= status < 300 and "Invalid session" in body:
        return {"responseCode": 4, "message": "the body says the session is invalid"}
    if status == 429:
        return {"responseCode": 1, "message": "throttled"}
    if status >= 500:
        return {"responseCode": 2, "message": "the API is failing"}
    if status >= 400:
        return {"responseCode": 3, "message": "the API refused the request"}
    return {"responseCode": 0}


sessionCheck = session_check

__all__ = ["version", "sessionCheck"]

hooks = {
    "preMapPhones": pre_map_phones,
    "postSubmitEnrich": post_submit_enrich,
    "delta": delta,
    "failWithCode": fail_with_code,
    "failWithNumber": fail_with_number,
    "failWithName": fail_with_name,
    "giveUp": give_up,
    "notSerializable": not_serializable,
    "spin": spin,
    "preMapDropsOne": pre_map_drops_one,
}

settings = {"persistSettings": persist_settings}
