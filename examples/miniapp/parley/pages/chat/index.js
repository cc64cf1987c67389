// One conversation: a page from the cache (and the relay for what the cache
// lacks), new messages as they come, sends that wait in the outbox offline.
const { getClient } = require('../../im.js');

Page({
  data: { messages: [], draft: '', bottom: '' },
  async onLoad(query) {
    this.conv = decodeURIComponent(query.id);
    this.client = await getClient();
    wx.setNavigationBarTitle({ title: this.conv });
    const upsert = (m) => {
      if (m.conversationId !== this.conv) return;
      const list = this.data.messages.filter((x) => x.clientId !== m.clientId);
      list.push(show(m));
      list.sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
      this.setData({ messages: list, bottom: `m${list.length - 1}` });
      if (m.seq) this.client.markRead(this.conv).catch(() => {});
    };
    this.offs = [this.client.on('message', upsert), this.client.on('messageUpdate', upsert)];
    const page = await this.client.messages(this.conv, { limit: 50 });
    this.setData({ messages: page.map(show), bottom: `m${page.length - 1}` });
    this.client.markRead(this.conv).catch(() => {});
  },
  onUnload() {
    (this.offs || []).forEach((off) => off());
  },
  onDraft(e) {
    this.setData({ draft: e.detail.value });
  },
  send() {
    const text = this.data.draft.trim();
    if (!text) return;
    this.setData({ draft: '' });
    // Resolves once the relay stored it; the message shows at once as pending.
    this.client.sendText(this.conv, text).catch((e) => wx.showToast({ title: `not sent: ${e.code}`, icon: 'none' }));
  },
});

function show(m) {
  return { id: m.id, clientId: m.clientId, seq: m.seq, sender: m.sender, status: m.status, text: m.text || `[${m.type}]` };
}
