//! An integrator.io extension plugin in Rust. Build: `extension-host build . -o plugin.wasm`;
//! test: `./test.sh`; serve: copy `plugin.wasm` into the plugins directory as `diy.wasm` (or
//! `<_connectorId>.wasm`).
use extension_sdk::prelude::*;

/// preMap: each record's `name` in capitals, one result per record.
fn pre_map_upper(options: PreMapOptions) -> FnResult<Vec<MapResult>> {
    Ok(options
        .data
        .into_iter()
        .map(|mut record| {
            if let Some(Value::String(name)) = record.get_mut("name") {
                *name = name.to_uppercase();
            }
            MapResult::data(record)
        })
        .collect())
}

/// The kind (preMap) is inferred from the function's options type.
fn register(plugin: &mut Plugin) {
    plugin.hook("preMapUpper", pre_map_upper);
}

extension_sdk::plugin!(register);
