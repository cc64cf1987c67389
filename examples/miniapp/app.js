// The app itself knows nothing of Parley: the client lives in the "parley"
// subpackage (parley/im.js), next to parley.wasm.br, and follows the app's
// lifecycle by itself (a clean close on hide, reconnect and resync on show).
App({});
