"""A wrapper connector that does real work against an external REST API with
``extension.http``, and a hook that calls the integrator.io API with the call's one-time
``bearerToken``. The same contract as plugins/rest-connector (Rust): connection
``{unencrypted: {baseURI}, encrypted: {token}}``; the operator allows the API's host in the
module's [network] policy."""

from extension import ExtensionError, http, kind

INTEGRATOR_API = "https://api.integrator.io"


def _api(connection):
    base = ((connection or {}).get("unencrypted") or {}).get("baseURI")
    if not base:
        raise ExtensionError("invalid_connection", "connection.unencrypted.baseURI is missing.")
    token = ((connection or {}).get("encrypted") or {}).get("token", "")
    return base.rstrip("/"), {"authorization": f"Bearer {token}"}


@kind("ping")
def ping_api(options):
    base, headers = _api(options.get("connection"))
    try:
        r = http.get(f"{base}/ping", headers=headers)
    except http.HttpError as err:
        return {"statusCode": 401, "errors": [{"code": err.code, "message": err.message}]}
    if r.status == 200:
        return {"statusCode": 200}
    return {"statusCode": 401,
            "errors": [{"code": "ping_failed", "message": f"The API answered {r.status} to the ping."}]}


@kind("export")
def export_api(options):
    base, headers = _api(options.get("connection"))
    page = (options.get("state") or {}).get("page", 1)
    r = http.get(f"{base}/records?page={page}", headers=headers)
    if not r.ok:
        raise ExtensionError("status", f"The API answered {r.status}.")
    body = r.json()
    result = {"data": body["records"], "lastPage": body.get("nextPage") is None}
    if body.get("nextPage") is not None:
        result["state"] = {"page": body["nextPage"]}
    return result


@kind("import")
def import_api(options):
    base, headers = _api(options.get("connection"))
    results = []
    for record in options["postMapData"]:
        r = http.post_json(f"{base}/records", record, headers=headers)
        if r.ok:
            results.append({"statusCode": 200, "id": r.json()["id"]})
        else:
            results.append({"statusCode": 401 if r.status in (401, 403) else 422,
                            "errors": [{"code": "import_failed",
                                        "message": f"The API answered {r.status}: {r.text()}"}]})
    return results


@kind("preSavePage")
def stamp_integration(options):
    r = http.get(f"{INTEGRATOR_API}/v1/integrations/{options['_integrationId']}",
                 headers={"authorization": f"Bearer {options['bearerToken']}"})
    if not r.ok:
        raise ExtensionError("status", f"integrator.io answered {r.status}.")
    name = r.json()["name"]
    return {"data": [{**record, "integrationName": name} for record in options["data"]]}


def fetch_url(options):
    """Any URL, for tests of the policy from Python: a refusal raises HttpError."""
    r = http.get(options["url"])
    return {"status": r.status, "body": r.text()}


wrappers = {"pingApi": ping_api, "exportApi": export_api, "importApi": import_api}
hooks = {"stampIntegration": stamp_integration}
utilities = {"fetchUrl": fetch_url}
