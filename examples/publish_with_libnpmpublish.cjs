// publish_with_libnpmpublish.cjs: publish a packed package the way Node release tools do, with
// libnpmpublish (npm's own publishing library).
//
//   npm pack && node publish_with_libnpmpublish.cjs <package folder> <tarball>
//
// The registry comes from REGISTRY, else npm_config_registry (what `npm run` and a CI job's
// environment give: reg.ci_env sets it), else the public registry; the token from NPM_TOKEN or
// NODE_AUTH_TOKEN; OTP is optional. Exit code 2 means the registry asked for a one-time password
// (EOTP), 1 any other failure.
const { readFileSync } = require('node:fs')
const { publish } = require('libnpmpublish')

async function main () {
  const folder = process.argv[2]
  const registry = process.env.REGISTRY || process.env.npm_config_registry || 'https://registry.npmjs.org/'
  const manifest = JSON.parse(readFileSync(`${folder}/package.json`, 'utf8'))
  const host = new URL(registry).host
  const opts = {
    registry,
    [`//${host}/:_authToken`]: process.env.NPM_TOKEN || process.env.NODE_AUTH_TOKEN,
    otp: process.env.OTP || undefined,
    fetchRetries: 0,
  }
  try {
    const tarball = readFileSync(process.argv[3])
    await publish(manifest, tarball, opts)
    console.log(`published ${manifest.name}@${manifest.version}`)
  } catch (err) {
    console.log(`${err.code}: ${err.message}`)
    process.exit(err.code === 'EOTP' ? 2 : 1)
  }
}

main()
