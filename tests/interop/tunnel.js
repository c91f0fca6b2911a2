// What the interop scripts need to take part in ssb-tunnel 2.0.0 tunnels: the
// plugin itself, a stand-in for the `gossip.connect` it calls, and the
// `connections` entries of each role. Used by peer.js (--serve-portal,
// --portal) and client.js (--portal).
'use strict'

const tunnelPlugin = require('ssb-tunnel')
const { publicKeyArg, toId } = require('./common')

// The id of the peer at a multiserver address `…~shs:KEY`.
function idOfAddress (address) {
  const match = /~shs:([^~;]+)/.exec(address)
  if (!match) throw new Error(`not an shs address: ${address}`)
  return toId(publicKeyArg(match[1]))
}

// ssb-tunnel reaches its portal with `sbot.gossip.connect(portalId, cb)`.
// Without ssb-gossip, this plugin dials the address it was given for that id.
// It has no manifest, so peers cannot call it.
function gossipPlugin (known) {
  return {
    name: 'gossip',
    version: '1.0.0',
    init (api) {
      return {
        connect (id, cb) {
          const address = known.get(id)
          if (!address) return cb(new Error(`gossip: no known address for ${id}`))
          api.connect(address, cb)
        }
      }
    }
  }
}

// The plugins a tunnel role needs. `portalAddress` (endpoint and client
// roles) is how `gossip.connect` reaches the portal; a portal needs none.
function tunnelPlugins (portalAddress) {
  if (!portalAddress) return [tunnelPlugin]
  const known = new Map([[idOfAddress(portalAddress), portalAddress]])
  return [tunnelPlugin, gossipPlugin(known)]
}

// Adds an endpoint's tunnel entries to `connections` (which must spell out
// the net entries: setting `connections` replaces the defaults). The core
// calls the tunnel transport's create() for the incoming entry, and
// ssb-tunnel then connects to the portal and announces itself.
function endpointConnections (connections, portalAddress) {
  return {
    incoming: Object.assign({}, connections.incoming, {
      tunnel: [{ scope: 'public', portal: idOfAddress(portalAddress), transform: 'shs' }]
    }),
    outgoing: clientConnections(connections).outgoing
  }
}

// Adds the outgoing tunnel entry a client needs to dial `tunnel:` addresses.
function clientConnections (connections) {
  return {
    incoming: connections.incoming,
    outgoing: Object.assign({}, connections.outgoing, { tunnel: [{ transform: 'shs' }] })
  }
}

// The `tunnel:` alternative of a multiserver address, if any.
function tunnelAlternative (address) {
  return (address || '').split(';').find((a) => a.startsWith('tunnel:'))
}

module.exports = {
  idOfAddress,
  gossipPlugin,
  tunnelPlugins,
  endpointConnections,
  clientConnections,
  tunnelAlternative
}
