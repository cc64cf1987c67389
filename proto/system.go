package proto

// SystemUser is the sender of messages the application's server sends
// through the relay's admin API as nobody in particular ("system"). It may
// write into any conversation that exists, so no token may sign in as it:
// the relay refuses a hello whose user it is.
const SystemUser = "system"
