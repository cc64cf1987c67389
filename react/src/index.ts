/**
 * @parley-im/react: React hooks over a Parley client.
 *
 * The hooks hold no store of their own: each one reads the client once
 * (`client.state`, `client.conversations()`, `client.messages()`) and then
 * follows the client's events, unsubscribing when the component unmounts or
 * the client changes.
 *
 * ```tsx
 * import { createClient } from '@parley-im/sdk';
 * import { ParleyProvider, useConversations } from '@parley-im/react';
 *
 * const client = await createClient({ url, token });
 * void client.connect();
 * root.render(<ParleyProvider client={client}><ConversationList /></ParleyProvider>);
 * ```
 * @packageDocumentation
 */
export { ParleyProvider, useClient, type ParleyProviderProps } from './context.js';
export { useConnectionState, type ConnectionStatus } from './connection.js';
export { useConversations, type ConversationsResult } from './conversations.js';
export { useMessages, type MessagesResult, type UseMessagesOptions } from './messages.js';
export { useTyping, TYPING_SHOW_MS, type TypingResult } from './typing.js';
export {
  usePresence,
  useProfiles,
  useProfile,
  useTotalUnread,
  useMembers,
  type PresenceResult,
  type ProfilesResult,
  type MembersResult,
} from './users.js';
