'use strict';
// The default location of parley.wasm for the CommonJS build
// (src/wasm-url.d.ts): a file path next to the package entry. No require():
// bundlers that pick this build for a browser must not pull in Node modules.
Object.defineProperty(exports, '__esModule', { value: true });
exports.defaultWasmUrl = function defaultWasmUrl() {
  return __dirname + '/../parley.wasm';
};
