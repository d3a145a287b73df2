//! The plugin's function table: name and group → kind and handler.
//!
//! The registration method picks the group ([`Plugin::hook`], [`Plugin::wrapper`], …); the
//! function's signature picks the kind: a function taking [`PreMapOptions`] is a preMap hook,
//! one taking any serde type (`Value`, your own struct) is free-form JSON (see
//! [`IntoFunction`]). The constructors ([`pre_map`], [`ping`], [`json`], …) say the kind
//! explicitly, for closures whose argument type is not written. The host reads the table
//! through the `manifest` export and routes each request to the matching typed export.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::exports::integrator::extension::{hooks, lifecycle, scripts, wrappers};
use crate::bindings::integrator::extension::types as wit;
pub use crate::bindings::integrator::extension::types::{Group, Kind};
use crate::convert::{self, parse_list, parse_opt, to_json, to_json_list};
use crate::types::*;

type WitResult<T> = Result<T, wit::FnError>;
type Boxed<I, O> = Arc<dyn Fn(I) -> WitResult<O> + Send + Sync>;

/// A registered function: its kind and the code that runs it. Cloning shares the code, so one
/// function can be registered under several names or groups.
#[derive(Clone)]
pub struct Function {
    pub(crate) kind: Kind,
    pub(crate) handler: Handler,
}

macro_rules! handlers {
    ($($variant:ident($input:ty => $output:ty)),* $(,)?) => {
        /// The handler of a function, by kind (WIT types in and out).
        #[derive(Clone)]
        pub(crate) enum Handler { $($variant(Boxed<$input, $output>),)* }
    };
}

handlers! {
    PreSavePage(hooks::PreSavePageOptions => hooks::PreSavePageResponse),
    PreMap(hooks::PreMapOptions => Vec<hooks::MapResult>),
    PostMap(hooks::PostMapOptions => Vec<hooks::MapResult>),
    PostSubmit(hooks::PostSubmitOptions => Vec<String>),
    PostResponseMap(hooks::PostResponseMapOptions => Vec<String>),
    PostAggregate(hooks::PostAggregateOptions => ()),
    Ping(wrappers::PingOptions => wrappers::PingResponse),
    Export(wrappers::ExportOptions => wrappers::ExportResponse),
    Import(wrappers::ImportOptions => Vec<wrappers::ImportResponse>),
    Step(lifecycle::StepOptions => Option<String>),
    FormInit(lifecycle::FormInitOptions => String),
    PreSave(lifecycle::PreSaveOptions => String),
    InitChild(lifecycle::InitChildOptions => String),
    Update(lifecycle::UpdateOptions => Option<String>),
    ChangeEdition(lifecycle::ChangeEditionOptions => Option<String>),
    ResponseScript(scripts::ResponseScriptOptions => scripts::ResponseScriptResult),
    Json(String => Option<String>),
}

/// Wraps an author function: converts the WIT input, calls, converts the output back.
fn wrap<I, A, B, O>(
    from_wit: impl Fn(I) -> FnResult<A> + Send + Sync + 'static,
    f: impl Fn(A) -> FnResult<B> + Send + Sync + 'static,
    to_wit: impl Fn(B) -> FnResult<O> + Send + Sync + 'static,
) -> Boxed<I, O> {
    Arc::new(move |input| {
        from_wit(input)
            .and_then(&f)
            .and_then(&to_wit)
            .map_err(convert::fn_error)
    })
}

/// What a function without a fixed result returns: nothing (an empty response) or a value.
pub trait IntoReturn {
    /// The JSON text to return, or `None` for "nothing".
    fn into_return(self) -> FnResult<Option<String>>;
}

impl IntoReturn for () {
    fn into_return(self) -> FnResult<Option<String>> {
        Ok(None)
    }
}

impl IntoReturn for Value {
    fn into_return(self) -> FnResult<Option<String>> {
        to_json(&self).map(Some)
    }
}

impl IntoReturn for Option<Value> {
    fn into_return(self) -> FnResult<Option<String>> {
        self.map(|v| to_json(&v)).transpose()
    }
}

/// Returns any serde value from a free-form function: `Ok(Json(my_struct))`.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoReturn for Json<T> {
    fn into_return(self) -> FnResult<Option<String>> {
        to_json(&self.0).map(Some)
    }
}

/// Returns JSON text the function already serialised, as is (the host still checks it is
/// valid JSON before answering).
pub struct RawJson(pub String);

impl IntoReturn for RawJson {
    fn into_return(self) -> FnResult<Option<String>> {
        Ok(Some(self.0))
    }
}

fn returned<R: IntoReturn>(r: R) -> FnResult<Option<String>> {
    r.into_return()
}

fn returned_value(v: Value) -> FnResult<String> {
    to_json(&v)
}

fn map_results<R: Serialize>(results: Vec<MapResult<R>>) -> FnResult<Vec<hooks::MapResult>> {
    results
        .into_iter()
        .map(|r| {
            Ok(hooks::MapResult {
                data: r.data.as_ref().map(to_json).transpose()?,
                errors: convert::record_errors(r.errors),
            })
        })
        .collect()
}

/// A preSavePage hook over records of type `R` (`serde_json::Value` by default).
pub fn pre_save_page<R, O>(
    f: impl Fn(PreSavePageOptions<R>) -> FnResult<PreSavePageResponse<O>> + Send + Sync + 'static,
) -> Function
where
    R: DeserializeOwned + 'static,
    O: Serialize + 'static,
{
    let from = |o: hooks::PreSavePageOptions| {
        Ok(PreSavePageOptions {
            data: parse_list(o.data, "data")?,
            errors: parse_list(o.errors, "errors")?,
            files: o.files.map(|f| parse_list(f, "files")).transpose()?,
            retry_data: parse_opt(o.retry_data, "retryData")?,
            page_index: o.page_index,
            last_export_date_time: o.last_export_date_time,
            current_export_date_time: o.current_export_date_time,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: PreSavePageResponse<O>| {
        Ok(hooks::PreSavePageResponse {
            data: to_json_list(&r.data)?,
            errors: to_json_list(&r.errors)?,
            abort: r.abort,
            new_errors_and_retry_data: to_json_list(&r.new_errors_and_retry_data)?,
        })
    };
    Function {
        kind: Kind::PreSavePage,
        handler: Handler::PreSavePage(wrap(from, f, to)),
    }
}

/// A preMap hook over records of type `R`; returns one [`MapResult`] per record.
pub fn pre_map<R, O>(
    f: impl Fn(PreMapOptions<R>) -> FnResult<Vec<MapResult<O>>> + Send + Sync + 'static,
) -> Function
where
    R: DeserializeOwned + 'static,
    O: Serialize + 'static,
{
    let from = |o: hooks::PreMapOptions| {
        Ok(PreMapOptions {
            data: parse_list(o.data, "data")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::PreMap,
        handler: Handler::PreMap(wrap(from, f, map_results)),
    }
}

/// A postMap hook over mapped records of type `R`; returns one [`MapResult`] per record.
pub fn post_map<R, O>(
    f: impl Fn(PostMapOptions<R>) -> FnResult<Vec<MapResult<O>>> + Send + Sync + 'static,
) -> Function
where
    R: DeserializeOwned + 'static,
    O: Serialize + 'static,
{
    let from = |o: hooks::PostMapOptions| {
        Ok(PostMapOptions {
            pre_map_data: Records::from_json(o.pre_map_data),
            post_map_data: parse_list(o.post_map_data, "postMapData")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::PostMap,
        handler: Handler::PostMap(wrap(from, f, map_results)),
    }
}

/// A postSubmit hook; returns the responseData array with its length unchanged.
pub fn post_submit(
    f: impl Fn(PostSubmitOptions) -> FnResult<Vec<Value>> + Send + Sync + 'static,
) -> Function {
    let from = |o: hooks::PostSubmitOptions| {
        Ok(PostSubmitOptions {
            pre_map_data: Records::from_json(o.pre_map_data),
            post_map_data: Records::from_json(o.post_map_data),
            response_data: parse_list(o.response_data, "responseData")?,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: Vec<Value>| to_json_list(&r);
    Function {
        kind: Kind::PostSubmit,
        handler: Handler::PostSubmit(wrap(from, f, to)),
    }
}

/// A postResponseMap hook; returns postResponseMapData with its length unchanged.
pub fn post_response_map(
    f: impl Fn(PostResponseMapOptions) -> FnResult<Vec<Value>> + Send + Sync + 'static,
) -> Function {
    let from = |o: hooks::PostResponseMapOptions| {
        Ok(PostResponseMapOptions {
            post_response_map_data: parse_list(o.post_response_map_data, "postResponseMapData")?,
            response_data: Records::from_json(o.response_data),
            one_to_many: o.one_to_many,
            path_to_many: o.path_to_many,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: Vec<Value>| to_json_list(&r);
    Function {
        kind: Kind::PostResponseMap,
        handler: Handler::PostResponseMap(wrap(from, f, to)),
    }
}

/// A postAggregate hook; returns nothing.
pub fn post_aggregate(
    f: impl Fn(PostAggregateOptions) -> FnResult<()> + Send + Sync + 'static,
) -> Function {
    let from = |o: hooks::PostAggregateOptions| {
        Ok(PostAggregateOptions {
            post_aggregate_data: convert::parse(&o.post_aggregate_data, || {
                "options.postAggregateData".to_string()
            })?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::PostAggregate,
        handler: Handler::PostAggregate(wrap(from, f, Ok)),
    }
}

/// A response script: judges a connector's response (`responseCode` 0 continue, 1 retry the
/// step, 2 fail the flow and retry it later, 3 fail the flow, 4 re-authenticate and retry).
pub fn response_script(
    f: impl Fn(ResponseScriptOptions) -> FnResult<ResponseScriptResult> + Send + Sync + 'static,
) -> Function {
    let from = |o: scripts::ResponseScriptOptions| {
        Ok(ResponseScriptOptions {
            request: ScriptRequest {
                method: o.request.method,
                url: o.request.url,
                headers: convert::parse(&o.request.headers, || "request.headers".into())?,
            },
            response: ScriptResponse {
                status: o.response.status,
                headers: convert::parse(&o.response.headers, || "response.headers".into())?,
                body: o.response.body,
            },
            context: convert::context(o.context)?,
        })
    };
    let to = |r: ResponseScriptResult| {
        Ok(scripts::ResponseScriptResult {
            response_code: r.response_code as u8,
            message: r.message,
        })
    };
    Function {
        kind: Kind::ResponseScript,
        handler: Handler::ResponseScript(wrap(from, f, to)),
    }
}

/// A ping wrapper.
pub fn ping(f: impl Fn(PingOptions) -> FnResult<PingResponse> + Send + Sync + 'static) -> Function {
    let from = |o: wrappers::PingOptions| {
        Ok(PingOptions {
            connection: parse_opt(o.connection, "connection")?,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: PingResponse| {
        Ok(wrappers::PingResponse {
            status_code: r.status_code,
            errors: convert::record_errors(r.errors),
        })
    };
    Function {
        kind: Kind::Ping,
        handler: Handler::Ping(wrap(from, f, to)),
    }
}

/// An export wrapper: returns one page per call.
pub fn export(
    f: impl Fn(ExportOptions) -> FnResult<ExportResponse> + Send + Sync + 'static,
) -> Function {
    let from = |o: wrappers::ExportOptions| {
        Ok(ExportOptions {
            connection: parse_opt(o.connection, "connection")?,
            r#type: o.type_,
            delta: parse_opt(o.delta, "delta")?,
            once: parse_opt(o.once, "once")?,
            test: parse_opt(o.test, "test")?,
            state: parse_opt(o.state, "state")?,
            data: o.data.map(|d| parse_list(d, "data")).transpose()?,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: ExportResponse| {
        Ok(wrappers::ExportResponse {
            connection_offline: r.connection_offline,
            data: to_json_list(&r.data)?,
            errors: convert::record_errors(r.errors),
            last_page: r.last_page,
            state: r.state.as_ref().map(to_json).transpose()?,
        })
    };
    Function {
        kind: Kind::Export,
        handler: Handler::Export(wrap(from, f, to)),
    }
}

/// An import wrapper: returns one response per record.
pub fn import(
    f: impl Fn(ImportOptions) -> FnResult<Vec<ImportResponse>> + Send + Sync + 'static,
) -> Function {
    let from = |o: wrappers::ImportOptions| {
        Ok(ImportOptions {
            connection: parse_opt(o.connection, "connection")?,
            pre_map_data: Records::from_json(o.pre_map_data),
            post_map_data: parse_list(o.post_map_data, "postMapData")?,
            context: convert::context(o.context)?,
        })
    };
    let to = |r: Vec<ImportResponse>| {
        Ok(r.into_iter()
            .map(|r| wrappers::ImportResponse {
                status_code: r.status_code,
                id: r.id,
                ignored: r.ignored,
                errors: convert::record_errors(r.errors),
            })
            .collect())
    };
    Function {
        kind: Kind::Import,
        handler: Handler::Import(wrap(from, f, to)),
    }
}

/// An installer or uninstaller step; returns nothing (`()`) or a value.
pub fn step<R: IntoReturn + 'static>(
    f: impl Fn(StepOptions) -> FnResult<R> + Send + Sync + 'static,
) -> Function {
    let from = |o: lifecycle::StepOptions| {
        Ok(StepOptions {
            form_submission: parse_opt(o.form_submission, "formSubmission")?,
            resource: parse_opt(o.resource, "resource")?,
            parent_resource: parse_opt(o.parent_resource, "parentResource")?,
            license: parse_opt(o.license, "license")?,
            parent_license: parse_opt(o.parent_license, "parentLicense")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::Step,
        handler: Handler::Step(wrap(from, f, returned)),
    }
}

/// A formInit function: returns the form object for the UI to render.
pub fn form_init(
    f: impl Fn(FormInitOptions) -> FnResult<Value> + Send + Sync + 'static,
) -> Function {
    let from = |o: lifecycle::FormInitOptions| {
        Ok(FormInitOptions {
            resource: parse_opt(o.resource, "resource")?,
            parent_resource: parse_opt(o.parent_resource, "parentResource")?,
            grandparent_resource: parse_opt(o.grandparent_resource, "grandparentResource")?,
            license: parse_opt(o.license, "license")?,
            parent_license: parse_opt(o.parent_license, "parentLicense")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::FormInit,
        handler: Handler::FormInit(wrap(from, f, returned_value)),
    }
}

/// A preSave function: returns the newResource object to save.
pub fn pre_save(f: impl Fn(PreSaveOptions) -> FnResult<Value> + Send + Sync + 'static) -> Function {
    let from = |o: lifecycle::PreSaveOptions| {
        Ok(PreSaveOptions {
            new_resource: parse_opt(o.new_resource, "newResource")?,
            old_resource: parse_opt(o.old_resource, "oldResource")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::PreSave,
        handler: Handler::PreSave(wrap(from, f, returned_value)),
    }
}

/// An initChild function: returns the child integration to create.
pub fn init_child(
    f: impl Fn(InitChildOptions) -> FnResult<Value> + Send + Sync + 'static,
) -> Function {
    let from = |o: lifecycle::InitChildOptions| {
        Ok(InitChildOptions {
            parent_integration: parse_opt(o.parent_integration, "parentIntegration")?,
            parent_license: parse_opt(o.parent_license, "parentLicense")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::InitChild,
        handler: Handler::InitChild(wrap(from, f, returned_value)),
    }
}

/// An update function; returns nothing (`()`) or a value.
pub fn update<R: IntoReturn + 'static>(
    f: impl Fn(UpdateOptions) -> FnResult<R> + Send + Sync + 'static,
) -> Function {
    let from = |o: lifecycle::UpdateOptions| {
        Ok(UpdateOptions {
            resource: parse_opt(o.resource, "resource")?,
            license: parse_opt(o.license, "license")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::Update,
        handler: Handler::Update(wrap(from, f, returned)),
    }
}

/// A changeEdition function; returns nothing (`()`) or a value.
pub fn change_edition<R: IntoReturn + 'static>(
    f: impl Fn(ChangeEditionOptions) -> FnResult<R> + Send + Sync + 'static,
) -> Function {
    let from = |o: lifecycle::ChangeEditionOptions| {
        Ok(ChangeEditionOptions {
            from_edition: parse_opt(o.from_edition, "fromEdition")?,
            to_edition: parse_opt(o.to_edition, "toEdition")?,
            integration: parse_opt(o.integration, "integration")?,
            license: parse_opt(o.license, "license")?,
            context: convert::context(o.context)?,
        })
    };
    Function {
        kind: Kind::ChangeEdition,
        handler: Handler::ChangeEdition(wrap(from, f, returned)),
    }
}

/// A free-form function: receives the whole `options` object (as `Value` or any serde type)
/// and returns nothing (`()`), a `Value`, or `Json(any serde value)`.
pub fn json<O: DeserializeOwned + 'static, R: IntoReturn + 'static>(
    f: impl Fn(O) -> FnResult<R> + Send + Sync + 'static,
) -> Function {
    let from = |o: String| convert::parse(&o, || "options".to_string());
    Function {
        kind: Kind::Json,
        handler: Handler::Json(wrap(from, f, returned)),
    }
}

/// What [`Plugin`]'s registration methods accept: a [`Function`] from a kind's constructor, or
/// a plain function whose signature names its kind, as axum infers extractors:
///
/// | the function takes | and returns | kind |
/// |---|---|---|
/// | `PreSavePageOptions<R>` | `FnResult<PreSavePageResponse<O>>` | preSavePage |
/// | `PreMapOptions<R>` | `FnResult<Vec<MapResult<O>>>` | preMap |
/// | `PostMapOptions<R>` | `FnResult<Vec<MapResult<O>>>` | postMap |
/// | `PostSubmitOptions` | `FnResult<Vec<Value>>` | postSubmit |
/// | `PostResponseMapOptions` | `FnResult<Vec<Value>>` | postResponseMap |
/// | `PostAggregateOptions` | `FnResult<()>` | postAggregate |
/// | `PingOptions` | `FnResult<PingResponse>` | ping |
/// | `ExportOptions` | `FnResult<ExportResponse>` | export |
/// | `ImportOptions` | `FnResult<Vec<ImportResponse>>` | import |
/// | `StepOptions` | `FnResult<impl IntoReturn>` | step |
/// | `FormInitOptions` | `FnResult<Value>` | formInit |
/// | `PreSaveOptions` | `FnResult<Value>` | preSave |
/// | `InitChildOptions` | `FnResult<Value>` | initChild |
/// | `UpdateOptions` | `FnResult<impl IntoReturn>` | update |
/// | `ChangeEditionOptions` | `FnResult<impl IntoReturn>` | changeEdition |
/// | `ResponseScriptOptions` | `FnResult<ResponseScriptResult>` | responseScript |
/// | any `DeserializeOwned` (`Value`, a struct) | `FnResult<impl IntoReturn>` | json |
///
/// `Marker` only tells the implementations apart; it is inferred, never written.
pub trait IntoFunction<Marker> {
    /// The function, with its kind.
    fn into_function(self) -> Function;
}

impl IntoFunction<Function> for Function {
    fn into_function(self) -> Function {
        self
    }
}

/// Types that tell [`IntoFunction`]'s implementations apart (one per kind).
#[doc(hidden)]
pub mod marker {
    macro_rules! markers {
        ($($name:ident),*) => {$(
            #[doc(hidden)]
            pub struct $name;
        )*};
    }
    markers!(
        PreSavePage,
        PreMap,
        PostMap,
        PostSubmit,
        PostResponseMap,
        PostAggregate,
        Ping,
        Export,
        Import,
        Step,
        FormInit,
        PreSave,
        InitChild,
        Update,
        ChangeEdition,
        ResponseScript,
        Json
    );
}

/// `IntoFunction` for functions over a kind's options whose records have an author type `R`
/// in and `O` out.
macro_rules! infer_records {
    ($($marker:ident: $options:ident => $result:ty = $constructor:ident),* $(,)?) => {$(
        impl<F, R, O> IntoFunction<(marker::$marker, R, O)> for F
        where
            F: Fn($options<R>) -> FnResult<$result> + Send + Sync + 'static,
            R: DeserializeOwned + 'static,
            O: Serialize + 'static,
        {
            fn into_function(self) -> Function {
                $constructor(self)
            }
        }
    )*};
}

infer_records! {
    PreSavePage: PreSavePageOptions => PreSavePageResponse<O> = pre_save_page,
    PreMap: PreMapOptions => Vec<MapResult<O>> = pre_map,
    PostMap: PostMapOptions => Vec<MapResult<O>> = post_map,
}

/// `IntoFunction` for functions over a kind's options with a fixed result type.
macro_rules! infer_fixed {
    ($($marker:ident: $options:ty => $result:ty = $constructor:ident),* $(,)?) => {$(
        impl<F> IntoFunction<marker::$marker> for F
        where
            F: Fn($options) -> FnResult<$result> + Send + Sync + 'static,
        {
            fn into_function(self) -> Function {
                $constructor(self)
            }
        }
    )*};
}

infer_fixed! {
    PostSubmit: PostSubmitOptions => Vec<Value> = post_submit,
    PostResponseMap: PostResponseMapOptions => Vec<Value> = post_response_map,
    PostAggregate: PostAggregateOptions => () = post_aggregate,
    Ping: PingOptions => PingResponse = ping,
    Export: ExportOptions => ExportResponse = export,
    Import: ImportOptions => Vec<ImportResponse> = import,
    FormInit: FormInitOptions => Value = form_init,
    PreSave: PreSaveOptions => Value = pre_save,
    InitChild: InitChildOptions => Value = init_child,
    ResponseScript: ResponseScriptOptions => ResponseScriptResult = response_script,
}

/// `IntoFunction` for functions over a kind's options that return nothing or a value.
macro_rules! infer_returning {
    ($($marker:ident: $options:ty = $constructor:ident),* $(,)?) => {$(
        impl<F, R> IntoFunction<(marker::$marker, R)> for F
        where
            F: Fn($options) -> FnResult<R> + Send + Sync + 'static,
            R: IntoReturn + 'static,
        {
            fn into_function(self) -> Function {
                $constructor(self)
            }
        }
    )*};
}

infer_returning! {
    Step: StepOptions = step,
    Update: UpdateOptions = update,
    ChangeEdition: ChangeEditionOptions = change_edition,
}

impl<F, O, R> IntoFunction<(marker::Json, O, R)> for F
where
    F: Fn(O) -> FnResult<R> + Send + Sync + 'static,
    O: DeserializeOwned + 'static,
    R: IntoReturn + 'static,
{
    fn into_function(self) -> Function {
        json(self)
    }
}

pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) group: Group,
    pub(crate) function: Function,
}

/// The functions a plugin serves, by group and name.
#[derive(Default)]
pub struct Plugin {
    pub(crate) entries: Vec<Entry>,
}

impl Plugin {
    /// Registers a function in a group. A later registration of the same name and group
    /// replaces the earlier one.
    pub fn register<M>(
        &mut self,
        group: Group,
        name: &str,
        function: impl IntoFunction<M>,
    ) -> &mut Self {
        let function = function.into_function();
        self.entries
            .retain(|e| !(e.name == name && same_group(&e.group, &group)));
        self.entries.push(Entry {
            name: name.to_string(),
            group,
            function,
        });
        self
    }

    /// Registers a hook (`type: "hook"`).
    pub fn hook<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Hooks, name, function)
    }

    /// Registers a wrapper (`type: "wrapper"`).
    pub fn wrapper<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Wrappers, name, function)
    }

    /// Registers an installer function (`type: "installer"`).
    pub fn installer<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Installer, name, function)
    }

    /// Registers an uninstaller function (`type: "uninstaller"`).
    pub fn uninstaller<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Uninstaller, name, function)
    }

    /// Registers a settings function (`type: "setting"`).
    pub fn setting<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Settings, name, function)
    }

    /// Registers a utility function (`type: "utility"`).
    pub fn utility<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Utilities, name, function)
    }

    /// Registers a function at the module root (requests without `type`).
    pub fn root<M>(&mut self, name: &str, function: impl IntoFunction<M>) -> &mut Self {
        self.register(Group::Root, name, function)
    }

    pub(crate) fn find(&self, target: &wit::FunctionId) -> Option<&Function> {
        self.entries
            .iter()
            .find(|e| e.name == target.name && same_group(&e.group, &target.group))
            .map(|e| &e.function)
    }
}

pub(crate) fn same_group(a: &Group, b: &Group) -> bool {
    match (a, b) {
        (Group::Other(x), Group::Other(y)) => x == y,
        (Group::Other(_), _) | (_, Group::Other(_)) => false,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(extra: &str) -> wit::Context {
        wit::Context {
            bearer_token: Some("one-time".into()),
            integration_id: Some("i1".into()),
            parent_integration_id: None,
            flow_id: None,
            export_id: None,
            import_id: None,
            connection_id: None,
            settings: Some(r#"{"uppercase":true}"#.into()),
            configuration: None,
            extra: extra.into(),
        }
    }

    fn upper(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
        let on = options
            .context
            .settings
            .as_ref()
            .is_some_and(|s| s["uppercase"] == true);
        Ok(options
            .data
            .into_iter()
            .map(|mut record| {
                if let (true, Some(Value::String(name))) = (on, record.get_mut("name")) {
                    *name = name.to_uppercase();
                }
                MapResult::data(record)
            })
            .collect())
    }

    fn run_pre_map(function: &Function, data: &[&str]) -> WitResult<Vec<hooks::MapResult>> {
        let Handler::PreMap(handler) = &function.handler else {
            panic!("not a preMap handler");
        };
        handler(hooks::PreMapOptions {
            data: data.iter().map(|d| d.to_string()).collect(),
            context: context(r#"{"_custom":7}"#),
        })
    }

    #[test]
    fn a_pre_map_function_gets_parsed_records_and_context_and_answers_json_text() {
        let results = run_pre_map(
            &pre_map(upper),
            &[r#"{"name":"ada","id":1}"#, r#"{"id":2}"#],
        )
        .unwrap();
        let data: Vec<_> = results.iter().map(|r| r.data.clone()).collect();
        assert_eq!(
            data,
            [
                Some(r#"{"name":"ADA","id":1}"#.to_string()),
                Some(r#"{"id":2}"#.to_string())
            ]
        );
        assert!(results.iter().all(|r| r.errors.is_empty()));
    }

    #[test]
    fn a_record_that_does_not_fit_the_function_s_type_is_invalid_options_naming_it() {
        #[derive(serde::Deserialize, Serialize)]
        struct Named {
            name: String,
        }
        let function = pre_map(|o: PreMapOptions<Named>| {
            Ok(o.data.into_iter().map(MapResult::data).collect())
        });
        let err = run_pre_map(&function, &[r#"{"name":"a"}"#, r#"{"id":2}"#]).unwrap_err();
        assert!(matches!(&err.code, wit::ErrorCode::Text(code) if code == "invalid_options"));
        assert!(
            err.message
                .starts_with("options.data[1] does not fit the function's type"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_error_returned_by_the_function_keeps_its_code_and_message() {
        let function = pre_map(|_: PreMapOptions| -> FnResult<Vec<MapResult>> {
            Err(FnError::new("no_way", "Not today."))
        });
        let err = run_pre_map(&function, &[]).unwrap_err();
        assert!(matches!(&err.code, wit::ErrorCode::Text(code) if code == "no_way"));
        assert_eq!(err.message, "Not today.");
    }

    #[test]
    fn a_numeric_error_code_stays_a_number() {
        let function = pre_map(|_: PreMapOptions| -> FnResult<Vec<MapResult>> {
            Err(FnError::new(5, "Vendor error five."))
        });
        let err = run_pre_map(&function, &[]).unwrap_err();
        assert!(matches!(err.code, wit::ErrorCode::Number(n) if n == 5.0));
    }

    #[test]
    fn the_context_keeps_unknown_fields_in_extra() {
        let c = convert::context(context(r#"{"_custom":7,"nested":{"a":[1]}}"#)).unwrap();
        assert_eq!(c.bearer_token.as_deref(), Some("one-time"));
        assert_eq!(c.extra["_custom"], 7);
        assert_eq!(c.extra["nested"]["a"][0], 1);
    }

    #[test]
    fn registering_a_name_again_in_a_group_replaces_it_and_groups_are_separate() {
        let mut plugin = Plugin::default();
        plugin
            .hook("f", pre_map(upper))
            .hook("f", json(|v: Value| -> FnResult<Value> { Ok(v) }))
            .utility("f", pre_map(upper));
        let find = |group: Group| {
            plugin
                .find(&wit::FunctionId {
                    group,
                    name: "f".into(),
                })
                .map(|f| f.kind)
        };
        assert_eq!(find(Group::Hooks), Some(Kind::Json));
        assert_eq!(find(Group::Utilities), Some(Kind::PreMap));
        assert_eq!(find(Group::Root), None);
    }

    #[test]
    fn a_plain_function_s_kind_is_inferred_from_its_signature() {
        #[derive(serde::Deserialize, Serialize)]
        struct Named {
            name: String,
        }
        fn named(o: PreMapOptions<Named>) -> FnResult<Vec<MapResult<Named>>> {
            Ok(o.data.into_iter().map(MapResult::data).collect())
        }
        fn install(_: StepOptions) -> FnResult<()> {
            Ok(())
        }
        fn settings(o: Value) -> FnResult<Value> {
            Ok(o)
        }
        fn pong(_: PingOptions) -> FnResult<PingResponse> {
            Ok(PingResponse {
                status_code: 200,
                errors: Vec::new(),
            })
        }
        let mut plugin = Plugin::default();
        plugin
            .hook("upper", upper)
            .hook("named", named)
            .installer("install", install)
            .setting("settings", settings)
            .wrapper("ping", pong)
            .utility("closure", |o: PostAggregateOptions| -> FnResult<()> {
                drop(o);
                Ok(())
            });
        let kinds: Vec<_> = plugin.entries.iter().map(|e| e.function.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::PreMap,
                Kind::PreMap,
                Kind::Step,
                Kind::Json,
                Kind::Ping,
                Kind::PostAggregate
            ]
        );
    }

    #[test]
    fn one_function_serves_a_group_and_the_root_without_being_built_twice() {
        let upper_fn = pre_map(upper);
        let mut plugin = Plugin::default();
        plugin
            .hook("upper", upper_fn.clone())
            .root("upper", upper_fn);
        for group in [Group::Hooks, Group::Root] {
            let function = plugin
                .find(&wit::FunctionId {
                    group,
                    name: "upper".into(),
                })
                .unwrap();
            let Handler::PreMap(handler) = &function.handler else {
                panic!("not a preMap handler");
            };
            let results = handler(hooks::PreMapOptions {
                data: vec![r#"{"name":"ada"}"#.into()],
                context: context("{}"),
            })
            .unwrap();
            assert_eq!(results[0].data.as_deref(), Some(r#"{"name":"ADA"}"#));
        }
    }

    #[test]
    fn records_are_parsed_only_when_read() {
        let records = Records::from_json(vec![r#"{"a":1}"#.into(), "[1,2]".into()]);
        assert_eq!((records.len(), records.raw(1)), (2, Some("[1,2]")));
        assert_eq!(records[0]["a"], 1);
        let parsed: Vec<Value> = records.parse().unwrap();
        assert_eq!(parsed[1][1], 2);
    }
}
