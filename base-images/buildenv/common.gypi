# Defaults node-gyp reads for addons built by `lbox build --npm-install` when Node.js came
# from the npm package (no release tarball, so no Node.js common.gypi): enough for Node-API
# addons, which need only the Node-API headers next to this file. Written for lbox.
{
  'variables': {
    'standalone_static_library%': 0,
  },
  'target_defaults': {
    'default_configuration': 'Release',
    'configurations': {
      'Release': {
        'cflags': ['-O2'],
        'cflags_cc': ['-O2'],
      },
      'Debug': {
        'defines': ['DEBUG', '_DEBUG'],
        'cflags': ['-g', '-O0'],
        'cflags_cc': ['-g', '-O0'],
      },
    },
    'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-pthread', '-fPIC'],
    'cflags_cc': ['-fno-rtti', '-fno-exceptions', '-std=gnu++17'],
    'ldflags': ['-pthread', '-rdynamic'],
  },
}
