#!/usr/bin/env node
// Runs the official Backendless JS SDK (npm "backendless" v8) against a backendless_aio emulator
// and prints one JSON report of what the SDK got back (values and fault codes).
//
//   node check.js SERVER_URL APP_ID API_KEY [SERVER_KEY ROLE]
//
// The classic form (Backendless.serverURL + initApp(appId, apiKey)) runs the full scenario;
// the domain form (initApp("http://host:port"), which uses {domain}/api) runs a shorter one.
// With SERVER_KEY (the app's CloudCode key) and ROLE (a role made in the console), a third
// scenario runs what only that key may do: roles, login by objectId, confirmation URLs.
'use strict'

const Backendless = require('backendless')

const [serverURL, appId, apiKey, serverKey, roleName] = process.argv.slice(2)

if (!serverURL || !appId || !apiKey) {
  process.stderr.write('usage: node check.js SERVER_URL APP_ID API_KEY\n')
  process.exit(2)
}

const PASSWORD = 'js-sdk-Passw0rd'
const RUN = `${process.pid}-${Date.now()}`

// What a call gave: its value, or the fault's code / HTTP status / message.
async function outcome(fn) {
  try {
    const value = await fn()
    return { ok: true, value }
  } catch (error) {
    return {
      ok     : false,
      code   : error.code === undefined ? null : error.code,
      status : error.status === undefined ? null : error.status,
      message: String(error.message || error),
    }
  }
}

function userSummary(user) {
  if (!user) {
    return null
  }

  return {
    objectId   : user.objectId,
    ___class   : user.___class,
    email      : user.email,
    name       : user.name === undefined ? '<absent>' : user.name,
    shoeSize   : user.shoeSize === undefined ? '<absent>' : user.shoeSize,
    userStatus : user.userStatus,
    created    : user.created,
    updated    : user.updated,
    lastLogin  : user.lastLogin,
    ownerId    : user.ownerId,
    hasPassword: Object.prototype.hasOwnProperty.call(user, 'password'),
    hasToken   : Boolean(user['user-token']),
  }
}

async function classic() {
  Backendless.serverURL = serverURL
  Backendless.initApp(appId, apiKey)

  const Users = Backendless.UserService
  const report = { form: 'classic' }
  const email = `js-${RUN}@example.com`
  const otherEmail = `js-other-${RUN}@example.com`

  report.appInfo = await outcome(() => Backendless.appInfoPromise())

  const registered = await Users.register({ email, password: PASSWORD, name: 'JS' })
  report.register = userSummary(registered)
  report.currentUserAfterRegister = await Users.getCurrentUser()
  const other = await Users.register({ email: otherEmail, password: PASSWORD, name: 'Other' })

  // 3028: nobody is logged in (the SDK sends the update anyway)
  report.updateNotLoggedIn = await outcome(
    () => Users.update({ objectId: registered.objectId, name: 'nobody' })
  )

  const user = await Users.login(email, PASSWORD)
  report.login = userSummary(user)
  report.tokenKept = Backendless.getCurrentUserToken() === user['user-token']
  report.isValidLogin = await outcome(() => Users.isValidLogin())

  // update a custom property on the object login returned (the SDK sends the whole object)
  user.shoeSize = 44
  const updated = await Users.update(user)
  report.update = userSummary(updated)

  report.findById = userSummary(await Backendless.Data.of('Users').findById(registered.objectId))
  report.findOther = userSummary(await Backendless.Data.of('Users').findById(other.objectId))
  // finding users through the Data service (the wire the Python client copies)
  const usersTable = Backendless.Data.of('Users')
  const query = Backendless.DataQueryBuilder.create()
    .setWhereClause(`email = '${email}' or name = 'Other'`)
    .setSortBy(['name', 'created DESC'])
    .setProperties(['email', 'name'])
    .setPageSize(5)
    .setOffset(0)
  report.dataFind = await outcome(async () => (await usersTable.find(query)).map(u => u.email))
  report.dataFindDefault = await outcome(async () => (await usersTable.find()).length)
  report.dataCount = await outcome(() => usersTable.getObjectCount(`name = 'Other'`))
  report.dataCountAll = await outcome(() => usersTable.getObjectCount())
  report.dataFindFirst = await outcome(async () => (await usersTable.findFirst()).email)
  report.dataFindLast = await outcome(async () => (await usersTable.findLast()).email)
  report.dataFindBadWhere = await outcome(
    () => usersTable.find(Backendless.DataQueryBuilder.create().setWhereClause('age >'))
  )

  report.currentUserReload = userSummary(await Users.getCurrentUser(true))
  report.verifyPassword = await outcome(() => Users.verifyPassword(PASSWORD))
  report.verifyWrongPassword = await outcome(() => Users.verifyPassword('wrong-password'))
  report.userRoles = await outcome(() => Users.getUserRoles())
  report.describe = await outcome(
    async () => (await Users.describeUserClass()).map(p => p.name)
  )
  report.restorePassword = await outcome(() => Users.restorePassword(email))

  // the update faults
  report.updateAnotherUser = await outcome(
    () => Users.update({ objectId: other.objectId, name: 'hacked' })
  )
  report.updateMissingUser = await outcome(
    () => Users.update({ objectId: 'NO-SUCH-OBJECT-ID', name: 'ghost' })
  )
  report.updateIdentityTaken = await outcome(
    () => Users.update({ objectId: user.objectId, email: otherEmail })
  )
  report.loginWrongPassword = await outcome(() => Users.login(otherEmail, 'wrong-password'))

  // 3064: the same account logs in on "another device" (a standalone SDK instance); the
  // default policy ends this session, so the next update with the old token gets 3064
  const device2 = Backendless.initApp({ appId, apiKey, serverURL, standalone: true })
  const second = await device2.UserService.login(email, PASSWORD)
  report.secondDeviceLogin = userSummary(second)
  report.updateStaleToken = await outcome(
    () => Users.update({ objectId: user.objectId, name: 'stale' })
  )
  report.isValidLoginStale = await outcome(() => Users.isValidLogin())
  report.logoutStale = await outcome(() => Users.logout())
  report.currentUserAfterStaleLogout = Backendless.getCurrentUserToken()

  // logout of a live session
  report.logout = await outcome(() => device2.UserService.logout())
  report.tokenAfterLogout = device2.getCurrentUserToken()
  report.isValidLoginAfterLogout = await outcome(() => device2.UserService.isValidLogin())

  return report
}

async function domain() {
  const app = Backendless.initApp({ domain: serverURL, standalone: true })
  const Users = app.UserService
  const report = { form: 'domain', appPath: app.appPath }
  const email = `js-domain-${RUN}@example.com`

  report.appInfo = await outcome(() => app.appInfoPromise())
  report.register = userSummary(await Users.register({ email, password: PASSWORD }))
  const user = await Users.login(email, PASSWORD)
  report.login = userSummary(user)
  user.shoeSize = 45
  report.update = userSummary(await Users.update(user))
  report.findById = userSummary(await app.Data.of('Users').findById(user.objectId))
  report.logout = await outcome(() => Users.logout())
  report.tokenAfterLogout = app.getCurrentUserToken()
  report.resendConfirmation = await outcome(() => Users.resendEmailConfirmation(email))

  const guest = await Users.loginAsGuest()
  report.guest = userSummary(guest)
  report.guestRoles = await outcome(() => Users.getUserRoles())
  report.guestLogout = await outcome(() => Users.logout())

  return report
}

async function server() {
  const app = Backendless.initApp({ appId, apiKey: serverKey, serverURL, standalone: true })
  const Users = app.UserService
  const report = { form: 'server' }
  const email = `js-server-${RUN}@example.com`

  const user = await Users.register({ email, password: PASSWORD })
  report.assignRole = await outcome(() => Users.assignRole(email, roleName))
  report.findByRole = await outcome(async () =>
    (await Users.findByRole(roleName, true)).map(u => ({ objectId: u.objectId, roles: u.roles }))
  )
  report.rolesOf = await outcome(() => Users.getUserRoles(user.objectId))
  report.unassignRole = await outcome(() => Users.unassignRole(email, roleName))
  report.loginByObjectId = await outcome(async () => userSummary(await Users.login(user.objectId)))
  report.confirmationURL = await outcome(() => Users.createEmailConfirmationURL(email))
  report.objectId = user.objectId

  return report
}

async function main() {
  const report = { sdkVersion: require('backendless/package.json').version }

  report.classic = await classic()
  report.domain = await domain()
  if (serverKey) {
    report.server = await server()
  }

  process.stdout.write(JSON.stringify(report, null, 2) + '\n')
}

main().catch(error => {
  process.stderr.write(`check.js failed: ${error && error.stack || error}\n`)
  if (error && error.code !== undefined) {
    process.stderr.write(`code=${error.code} status=${error.status}\n`)
  }
  process.exit(1)
})
