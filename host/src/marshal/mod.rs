//! JSON `options` ⇄ typed WIT values, and contract checks on results.
//!
//! Each kind takes its documented fields from `options` (see [`fields`]), calls its typed
//! export, checks the result against the contract (e.g. preMap returns exactly one entry per
//! record) and writes the JSON the caller receives (see [`output`]). `Ok(None)` means the
//! function returned nothing: the caller gets an empty 200.

pub mod decode;
pub mod fields;
pub mod output;

use serde_json::value::RawValue;

use crate::dispatch::Target;
use crate::error::{ApiError, Code};
use crate::runtime::Call;
use crate::runtime::bindings::{
    Boundary, ErrorCode, FnError, FunctionId, Kind, hooks, lifecycle, wrappers,
};
use decode::FromGuestJson;
use fields::Fields;

/// The contract name of a kind, as integrator.io's documentation spells it.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::PreSavePage => "preSavePage",
        Kind::PreMap => "preMap",
        Kind::PostMap => "postMap",
        Kind::PostSubmit => "postSubmit",
        Kind::PostResponseMap => "postResponseMap",
        Kind::PostAggregate => "postAggregate",
        Kind::Ping => "ping",
        Kind::Export => "export",
        Kind::Import => "import",
        Kind::Step => "step",
        Kind::FormInit => "formInit",
        Kind::PreSave => "preSave",
        Kind::InitChild => "initChild",
        Kind::Update => "update",
        Kind::ChangeEdition => "changeEdition",
        Kind::Json => "json",
    }
}

/// How a boundary is named in listings.
pub fn boundary_name(boundary: Boundary) -> &'static str {
    match boundary {
        Boundary::Typed => "typed",
        Boundary::Json => "json",
    }
}

fn function_error(err: FnError) -> ApiError {
    let code = match err.code {
        ErrorCode::Text(text) => Code::Text(text),
        ErrorCode::Number(n) => Code::Number(n),
    };
    ApiError::function(code, err.message)
}

/// What a guest export returned: the trap layer, then the function's own result.
type Returned<T> = wasmtime::Result<Result<T, FnError>>;

fn settle<T>(call: &mut Call, returned: Returned<T>) -> Result<T, ApiError> {
    call.finish(returned)?.map_err(function_error)
}

struct Ctx<'t> {
    target: &'t Target,
    id: FunctionId,
}

impl Ctx<'_> {
    fn fields<'a>(&self, options: &'a RawValue) -> Result<Fields<'a>, ApiError> {
        Fields::of(options).ok_or_else(|| {
            ApiError::InvalidOptions(format!(
                "The options of the {} function {:?} must be a JSON object.",
                kind_name(self.target.kind),
                self.target.name
            ))
        })
    }

    /// A list field the contract needs (its length is checked against the result).
    fn required_list(&self, fields: &mut Fields<'_>, key: &str) -> Result<Vec<String>, ApiError> {
        fields.list(key).ok_or_else(|| {
            ApiError::InvalidOptions(format!(
                "options.{key} must be an array for the {} function {:?}.",
                kind_name(self.target.kind),
                self.target.name
            ))
        })
    }

    /// Calls `plugin.invoke` with the whole `options`: the JSON text it returns, if any.
    async fn invoke_json(
        &self,
        call: &mut Call,
        options: &RawValue,
    ) -> Result<Option<String>, ApiError> {
        let r = call
            .bindings
            .integrator_extension_plugin()
            .call_invoke(&mut call.store, &self.id, &options.get().to_string())
            .await;
        settle(call, r)
    }

    /// Calls `plugin.invoke` with the whole `options` and decodes the JSON it returns into the
    /// kind's typed result (the JSON boundary).
    async fn via_json<T: FromGuestJson>(
        &self,
        call: &mut Call,
        options: &RawValue,
    ) -> Result<T, ApiError> {
        let returned = self.invoke_json(call, options).await?;
        T::from_guest_json(returned.as_deref()).map_err(|detail| {
            // One parse on the way that succeeds; on failure, text that is not JSON at all is
            // the original's "not serializable", anything else a broken contract.
            if let Some(Err(not_json)) = returned.as_deref().map(output::check_json) {
                return not_json;
            }
            ApiError::ContractBroken(format!(
                "The {} function {:?} returned a result that does not fit its contract: {detail}.",
                kind_name(self.target.kind),
                self.target.name
            ))
        })
    }

    fn check_len(&self, what: &str, expected: usize, got: usize) -> Result<(), ApiError> {
        if expected == got {
            return Ok(());
        }
        Err(ApiError::ContractBroken(format!(
            "The {} function {:?} returned {got} entries for {expected} {what}; the contract requires exactly one per entry.",
            kind_name(self.target.kind),
            self.target.name
        )))
    }
}

/// The typed result of a kind's call: through the kind's own export (`$export` of the
/// `$interface` bindings, with the typed options `$o`), or through `plugin.invoke` and decoded
/// from JSON when the function takes the JSON boundary.
macro_rules! call_kind {
    ($cx:expr, $call:expr, $options:expr, $interface:ident . $export:ident ( $o:expr )) => {
        match $cx.target.boundary {
            Boundary::Json => $cx.via_json($call, $options).await?,
            Boundary::Typed => {
                let r = $call
                    .bindings
                    .$interface()
                    .$export(&mut $call.store, &$cx.id, $o)
                    .await;
                settle($call, r)?
            }
        }
    };
}

/// Calls `target` with `options` on a live instance and returns the response body.
pub async fn invoke(
    call: &mut Call,
    target: &Target,
    options: &RawValue,
) -> Result<Option<String>, ApiError> {
    let cx = Ctx {
        target,
        id: FunctionId {
            group: target.group.clone(),
            name: target.name.clone(),
        },
    };
    match target.kind {
        Kind::Json => cx
            .invoke_json(call, options)
            .await?
            .map(|text| output::value(&text))
            .transpose(),
        Kind::PreSavePage => {
            let mut f = cx.fields(options)?;
            let o = hooks::PreSavePageOptions {
                data: cx.required_list(&mut f, "data")?,
                errors: f.list("errors").unwrap_or_default(),
                files: f.list("files"),
                retry_data: f.json("retryData"),
                page_index: f.u64("pageIndex"),
                last_export_date_time: f.string("lastExportDateTime"),
                current_export_date_time: f.string("currentExportDateTime"),
                context: f.context(),
            };
            let page = call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_pre_save_page(&o)
            );
            output::pre_save_page(&page).map(Some)
        }
        Kind::PreMap => {
            let mut f = cx.fields(options)?;
            let o = hooks::PreMapOptions {
                data: cx.required_list(&mut f, "data")?,
                context: f.context(),
            };
            let results = call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_pre_map(&o)
            );
            cx.check_len("records in options.data", o.data.len(), results.len())?;
            output::map_results(&results).map(Some)
        }
        Kind::PostMap => {
            let mut f = cx.fields(options)?;
            let o = hooks::PostMapOptions {
                pre_map_data: f.list("preMapData").unwrap_or_default(),
                post_map_data: cx.required_list(&mut f, "postMapData")?,
                context: f.context(),
            };
            let results = call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_post_map(&o)
            );
            cx.check_len(
                "records in options.postMapData",
                o.post_map_data.len(),
                results.len(),
            )?;
            output::map_results(&results).map(Some)
        }
        Kind::PostSubmit => {
            let mut f = cx.fields(options)?;
            let o = hooks::PostSubmitOptions {
                pre_map_data: f.list("preMapData").unwrap_or_default(),
                post_map_data: f.list("postMapData").unwrap_or_default(),
                response_data: cx.required_list(&mut f, "responseData")?,
                context: f.context(),
            };
            let results = call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_post_submit(&o)
            );
            cx.check_len(
                "responses in options.responseData",
                o.response_data.len(),
                results.len(),
            )?;
            output::list(&results).map(Some)
        }
        Kind::PostResponseMap => {
            let mut f = cx.fields(options)?;
            let o = hooks::PostResponseMapOptions {
                post_response_map_data: cx.required_list(&mut f, "postResponseMapData")?,
                response_data: f.list("responseData").unwrap_or_default(),
                one_to_many: f.bool("oneToMany"),
                path_to_many: f.string("pathToMany"),
                context: f.context(),
            };
            let results = call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_post_response_map(&o)
            );
            let expected = o.post_response_map_data.len();
            cx.check_len(
                "records in options.postResponseMapData",
                expected,
                results.len(),
            )?;
            output::list(&results).map(Some)
        }
        Kind::PostAggregate => {
            let mut f = cx.fields(options)?;
            let o = hooks::PostAggregateOptions {
                post_aggregate_data: f.json("postAggregateData").unwrap_or_else(|| "{}".into()),
                context: f.context(),
            };
            call_kind!(
                cx,
                call,
                options,
                integrator_extension_hooks.call_post_aggregate(&o)
            );
            Ok(None)
        }
        Kind::Ping => {
            let mut f = cx.fields(options)?;
            let o = wrappers::PingOptions {
                connection: f.json("connection"),
                context: f.context(),
            };
            let pong = call_kind!(
                cx,
                call,
                options,
                integrator_extension_wrappers.call_ping(&o)
            );
            Ok(Some(output::ping(&pong)))
        }
        Kind::Export => {
            let mut f = cx.fields(options)?;
            let o = wrappers::ExportOptions {
                connection: f.json("connection"),
                type_: f.string("type"),
                delta: f.json("delta"),
                once: f.json("once"),
                test: f.json("test"),
                state: f.json("state"),
                data: f.list("data"),
                context: f.context(),
            };
            let page = call_kind!(
                cx,
                call,
                options,
                integrator_extension_wrappers.call_export(&o)
            );
            output::export(&page).map(Some)
        }
        Kind::Import => {
            let mut f = cx.fields(options)?;
            let o = wrappers::ImportOptions {
                connection: f.json("connection"),
                pre_map_data: f.list("preMapData").unwrap_or_default(),
                post_map_data: cx.required_list(&mut f, "postMapData")?,
                context: f.context(),
            };
            let results = call_kind!(
                cx,
                call,
                options,
                integrator_extension_wrappers.call_import(&o)
            );
            cx.check_len(
                "records in options.postMapData",
                o.post_map_data.len(),
                results.len(),
            )?;
            Ok(Some(output::import(&results)))
        }
        Kind::Step => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::StepOptions {
                form_submission: f.json("formSubmission"),
                resource: f.json("resource"),
                parent_resource: f.json("parentResource"),
                license: f.json("license"),
                parent_license: f.json("parentLicense"),
                context: f.context(),
            };
            let value: Option<String> = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_step(&o)
            );
            value.map(|text| output::value(&text)).transpose()
        }
        Kind::FormInit => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::FormInitOptions {
                resource: f.json("resource"),
                parent_resource: f.json("parentResource"),
                grandparent_resource: f.json("grandparentResource"),
                license: f.json("license"),
                parent_license: f.json("parentLicense"),
                context: f.context(),
            };
            let value: String = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_form_init(&o)
            );
            output::value(&value).map(Some)
        }
        Kind::PreSave => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::PreSaveOptions {
                new_resource: f.json("newResource"),
                old_resource: f.json("oldResource"),
                context: f.context(),
            };
            let value: String = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_pre_save(&o)
            );
            output::value(&value).map(Some)
        }
        Kind::InitChild => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::InitChildOptions {
                parent_integration: f.json("parentIntegration"),
                parent_license: f.json("parentLicense"),
                context: f.context(),
            };
            let value: String = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_init_child(&o)
            );
            output::value(&value).map(Some)
        }
        Kind::Update => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::UpdateOptions {
                resource: f.json("resource"),
                license: f.json("license"),
                context: f.context(),
            };
            let value: Option<String> = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_update(&o)
            );
            value.map(|text| output::value(&text)).transpose()
        }
        Kind::ChangeEdition => {
            let mut f = cx.fields(options)?;
            let o = lifecycle::ChangeEditionOptions {
                from_edition: f.json("fromEdition"),
                to_edition: f.json("toEdition"),
                integration: f.json("integration"),
                license: f.json("license"),
                context: f.context(),
            };
            let value: Option<String> = call_kind!(
                cx,
                call,
                options,
                integrator_extension_lifecycle.call_change_edition(&o)
            );
            value.map(|text| output::value(&text)).transpose()
        }
    }
}
