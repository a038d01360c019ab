{
  "comment": "Not a second build: node-gyp delegates to the CMake build (scripts/build-native.mjs, cmake-js) in build/cmake, which copies the addon to build/Release/genius.node.",
  "targets": [
    {
      "target_name": "genius",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["build/Release/genius.node"],
          "action": ["node", "scripts/build-native.mjs", "--out", "build/cmake"]
        }
      ]
    }
  ]
}
