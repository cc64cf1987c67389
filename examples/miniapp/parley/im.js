// One Parley client for the whole mini-program. It is created from this
// subpackage because parley.wasm.br lives here: the file exists once the
// subpackage is loaded (app.json preloads it from the sign-in page).
const { createClient } = require('@parley-im/miniapp');

let clientPromise = null;

function getClient() {
  if (!clientPromise) {
    const { url, token } = wx.getStorageSync('parley.settings') || {};
    clientPromise = createClient({
      url,
      token,
      wasmPath: '/parley/parley.wasm.br',
      onStorageError: (e) => console.warn('parley storage', e.what, e.message),
    }).then((client) => {
      client.on('kicked', (k) => wx.showToast({ title: `signed out (${k.code})`, icon: 'none' }));
      client.connect().catch((e) => wx.showToast({ title: `cannot connect: ${e.code}`, icon: 'none' }));
      return client;
    });
    clientPromise.catch(() => {
      clientPromise = null;
    });
  }
  return clientPromise;
}

module.exports = { getClient };
