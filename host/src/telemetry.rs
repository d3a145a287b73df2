//! Log output: one subscriber, installed by `main` only.

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber. `RUST_LOG` overrides the default filter.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("host=info,plugin=info,extension_host=info,wasmtime=warn,cranelift=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// Installs the log subscriber of the author tools (`call`, `inspect`): the plugin's own log
/// lines and warnings on stderr (stdout carries the answer), and the fuel of each call into
/// the returned meter. `RUST_LOG` overrides the filter.
pub fn init_tools() -> crate::tools::FuelMeter {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,plugin=debug,extension_host=error,host=error,wasmtime=error")
    });
    let meter = crate::tools::FuelMeter::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time()
                .with_filter(filter),
        )
        .with(FuelCapture(meter.clone()))
        .init();
    meter
}

/// Copies the `fuel_used` a call's span records into a [`crate::tools::FuelMeter`].
struct FuelCapture(crate::tools::FuelMeter);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for FuelCapture {
    fn on_record(
        &self,
        _span: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Fuel<'a>(&'a crate::tools::FuelMeter);
        impl tracing::field::Visit for Fuel<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "fuel_used" {
                    self.0.set(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        values.record(&mut Fuel(&self.0));
    }
}
