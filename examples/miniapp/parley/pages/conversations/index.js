// The conversation list: from the local cache first (it shows offline),
// refreshed on every conversation event.
const { getClient } = require('../../im.js');

Page({
  data: { state: 'starting…', conversations: [], peer: '' },
  async onLoad() {
    try {
      this.client = await getClient();
    } catch (e) {
      this.setData({ state: `cannot start: ${e.message}` });
      return;
    }
    this.offs = [
      this.client.on('state', ({ state }) => this.setData({ state })),
      this.client.on('conversation', () => this.refresh()),
    ];
    this.setData({ state: this.client.state });
    this.refresh();
  },
  onShow() {
    if (this.client) this.refresh();
  },
  onUnload() {
    (this.offs || []).forEach((off) => off());
  },
  async refresh() {
    const me = this.client.userId;
    const list = await this.client.conversations();
    this.setData({
      conversations: list.map((c) => ({
        id: c.id,
        title: c.name || (c.type === 'p2p' ? c.id.split(':').slice(1).filter((u) => u !== me).join('') || me : c.id),
        preview: c.lastMessage ? `${c.lastMessage.sender}: ${c.lastMessage.text || '[' + c.lastMessage.type + ']'}` : '',
        unread: c.unread,
      })),
    });
  },
  onPeer(e) {
    this.setData({ peer: e.detail.value.trim() });
  },
  startChat() {
    if (!this.data.peer || !this.client || !this.client.userId) return;
    wx.navigateTo({ url: `/parley/pages/chat/index?id=${encodeURIComponent(this.client.p2p(this.data.peer))}` });
  },
  open(e) {
    wx.navigateTo({ url: `/parley/pages/chat/index?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },
});
