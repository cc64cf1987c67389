// Sign-in: where the relay is and the token. Kept in wx storage; the chat
// pages (subpackage "parley") read them.
Page({
  data: { url: '', token: '' },
  onLoad() {
    this.setData(wx.getStorageSync('parley.settings') || { url: 'ws://127.0.0.1:8787/v1/ws', token: '' });
  },
  onInput(e) {
    this.setData({ [e.currentTarget.dataset.field]: e.detail.value });
  },
  enter() {
    if (!this.data.url || !this.data.token) {
      wx.showToast({ title: 'URL and token needed', icon: 'none' });
      return;
    }
    wx.setStorageSync('parley.settings', { url: this.data.url, token: this.data.token });
    wx.navigateTo({ url: '/parley/pages/conversations/index' });
  },
});
