/**
 * Wire types of the Hookline management API. Field names are snake_case,
 * exactly as on the wire (they mirror the Rust types in
 * `crates/hookline/src/api/*.rs`). Times are RFC 3339 strings.
 */
/** HTTP methods a receiver (or a provider's registration API) can be called with. */
export var HttpMethods;
(function (HttpMethods) {
    HttpMethods["GET"] = "GET";
    HttpMethods["POST"] = "POST";
    HttpMethods["PUT"] = "PUT";
    HttpMethods["PATCH"] = "PATCH";
    HttpMethods["DELETE"] = "DELETE";
})(HttpMethods || (HttpMethods = {}));
//# sourceMappingURL=types.js.map