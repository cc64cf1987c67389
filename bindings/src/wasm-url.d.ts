// Implemented twice, one file per module format (src/platform/{esm,cjs}),
// and copied into dist by scripts/build.mjs: `import.meta.url` does not
// compile to CommonJS, and bundlers only see the literal
// `new URL('…', import.meta.url)` pattern in the ESM build.

/** The location of the parley.wasm shipped with the package. @internal */
export declare function defaultWasmUrl(): URL | string;
