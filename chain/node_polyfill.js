// Promise.withResolvers (ES2024) for Node 20: some js-ipfs 0.66 dependencies call it.
// Loaded with `node --require chain/node_polyfill.js` before js-ipfs starts.
'use strict'
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
