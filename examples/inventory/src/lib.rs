//! A stand-in for a third-party library: it logs and opens spans through `tracing`
//! only, and knows nothing of observe. Its lines still carry the request's trace,
//! user and request id, because observe's layer stamps every `tracing` event.

/// Reserves `quantity` units of `sku`, failing when the stock is short.
///
/// # Errors
/// When fewer than `quantity` units are in stock.
pub fn reserve(sku: &str, quantity: u32, in_stock: u32) -> Result<u32, String> {
    let span = tracing::info_span!("inventory.reserve", sku, quantity);
    let _entered = span.enter();
    if quantity > in_stock {
        tracing::warn!(in_stock, "not enough stock");
        return Err(format!("only {in_stock} of {sku} left"));
    }
    tracing::debug!(left = in_stock - quantity, "reserved");
    Ok(in_stock - quantity)
}
